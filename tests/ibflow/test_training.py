"""The one training loop: the objective each kind of codec implies, and the image fine-tuning through it."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import contracts
from ibflow import FlowCodec, ImageFlowCodec, NTCCodec, TrainConfig, train
from ibflow.noisy import add_latent_noise
from ibflow.training import codec_objective, forward_objective


def test_a_trainable_codec_is_trained_on_its_own_loss():
    codec = FlowCodec(2, hidden=8)
    codec.data_init(torch.randn(256, 2), torch.Generator().manual_seed(0))
    x = torch.randn(128, 2)
    a = codec_objective(codec, x, 0.5, torch.Generator().manual_seed(1))
    b = codec.loss(x, 0.5, torch.Generator().manual_seed(1))
    assert isinstance(codec, contracts.TrainableCodec) and torch.equal(a.total, b.total)
    # the same parts through forward: rate is the per-sample KL, distortion the summed squared error
    c = forward_objective(codec, x, 0.5, torch.Generator().manual_seed(1))
    assert torch.allclose(c.total, b.total) and torch.allclose(c.rate, b.rate)


def test_a_codec_with_likelihoods_is_trained_on_distortion_plus_beta_nats():
    torch.manual_seed(0)
    codec = NTCCodec(2, hidden=8)
    assert not isinstance(codec, contracts.TrainableCodec)
    x = torch.randn(64, 2)
    codec.eval()  # rounding: deterministic, so the objective can be recomputed by hand
    parts = forward_objective(codec, x, 0.25)
    x_hat, nats = codec.forward_parts(x, noise=False)
    assert torch.allclose(parts.distortion, ((x - x_hat) ** 2).sum(-1).mean())
    assert torch.allclose(parts.rate, nats.mean()) and torch.allclose(parts.total, parts.distortion + 0.25 * parts.rate)
    result = train(codec, lambda n, seed: torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)), 0.25,
                   TrainConfig(steps=20, batch_size=64, lr=1e-2), progress=False)
    assert all(math.isfinite(v) for v in result.history["total"]) and result.history["rate"][0] > 0


def test_a_codec_without_rate_is_trained_on_its_distortion():
    from ibflow.channel import JSCCCodec

    torch.manual_seed(0)
    codec = JSCCCodec(1, 1, "awgn", channel_options={"snr_db": 10.0}, hidden=8, decoder_hidden=8)
    codec.data_init(torch.randn(256, 1), torch.Generator().manual_seed(0))
    x = torch.randn(128, 1)
    parts = forward_objective(codec, x, 1.0, torch.Generator().manual_seed(2))
    out = codec(x, torch.Generator().manual_seed(2))
    assert float(parts.rate) == 0.0 and torch.equal(parts.total, out["distortion"].mean())


def _reference_finetune(codec, sample, beta, steps, batch_size, lr, seed):
    """The fine-tuning loop as it was written before it reused ibflow.train (the reference)."""
    codec.train()
    modules = [codec.encoder, codec.prior, codec.latent_model, codec.decoder] + ([codec.context] if codec.context is not None else [])
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        x = sample(batch_size, seed * 1_000_003 + 500_000 + step)
        parts = codec.bitstream_loss(x, beta, generator)
        z = add_latent_noise(codec.encode(x).detach(), codec.sigma.detach(), generator)
        prior_fit = codec.kl_per_sample(z).mean() / (x.shape[-1] * x.shape[-2])
        opt.zero_grad(set_to_none=True)
        (parts.total + prior_fit).backward()
        torch.nn.utils.clip_grad_norm_(params, 1e3)
        opt.step()
        history.append(float(parts.total.detach()))
    codec.eval()
    return history


@pytest.mark.parametrize("learn_sigma", [False, True])
def test_bitstream_finetuning_through_the_loop_matches_the_reference_exactly(learn_sigma):
    torch.manual_seed(0)
    codec = ImageFlowCodec(levels=1, steps=1, hidden=8, sigma=0.1, learn_sigma=learn_sigma)
    data = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    codec.data_init(data[:8])
    codec.eval()
    codec.fit_entropy_model(data, steps=5)

    def sample(n: int, seed: int) -> torch.Tensor:
        return data[torch.randint(len(data), (n,), generator=torch.Generator().manual_seed(seed))]

    reference = copy.deepcopy(codec)
    expected = _reference_finetune(reference, sample, 1e-2, 6, 4, 3e-3, 5)
    history = codec.finetune_bitstream(sample, 1e-2, steps=6, batch_size=4, lr=3e-3, seed=5)
    assert history == expected
    for (name, a), b in zip(codec.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    assert codec.finetune_bitstream(sample, 1e-2, steps=0) == []


def _nan_at(step: int, objective=codec_objective, snapshot_at: int | None = None, snapshots: list | None = None):
    """An objective that is ``objective`` until call ``step`` (0-based), where it turns NaN; at call
    ``snapshot_at`` it records the model's weights (those after ``snapshot_at`` updates)."""
    calls = {"n": 0}

    def nan_objective(model, x, beta, generator=None):
        n = calls["n"]
        calls["n"] += 1
        if n == snapshot_at:
            snapshots.append(copy.deepcopy(model.state_dict()))
        parts = objective(model, x, beta, generator)
        if n == step:
            return contracts.CodecLoss(parts.total * float("nan"), parts.distortion, parts.rate)
        return parts

    return nan_objective


def test_a_diverged_run_saves_the_last_good_weights_under_their_own_step(tmp_path):
    from ibflow import TrainingDiverged

    torch.manual_seed(0)
    codec = FlowCodec(2, hidden=8)
    sample = lambda n, seed: torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    good: list = []
    config = TrainConfig(steps=20, batch_size=64, lr=1e-2, checkpoint_every=5)
    path = tmp_path / "c.pt"
    with pytest.raises(TrainingDiverged, match="diverged at step 7.*weights of step 5"):
        train(codec, sample, 0.5, config, checkpoint=path, progress=False,
              objective=_nan_at(7, snapshot_at=5, snapshots=good))
    blob = torch.load(path, weights_only=True)
    # the weights saved are those after 5 updates, and meta.step says so; the crash step is kept apart
    assert blob["meta"]["step"] == 5 and blob["meta"]["diverged_at"] == 7
    assert len(good) == 1 and set(blob["state_dict"]) == set(good[0])
    for name, value in good[0].items():
        assert torch.equal(blob["state_dict"][name], value), name
        assert torch.equal(codec.state_dict()[name], value), name  # and the model is restored to them


def test_a_run_diverging_before_its_first_checkpoint_saves_the_initial_weights_as_step_0(tmp_path):
    from ibflow import TrainingDiverged

    torch.manual_seed(0)
    codec = FlowCodec(2, hidden=8)
    sample = lambda n, seed: torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    first: list = []
    path = tmp_path / "c.pt"
    with pytest.raises(TrainingDiverged, match="weights of step 0"):
        train(codec, sample, 0.5, TrainConfig(steps=20, batch_size=64, checkpoint_every=10), checkpoint=path,
              progress=False, objective=_nan_at(3, snapshot_at=0, snapshots=first))
    blob = torch.load(path, weights_only=True)
    assert blob["meta"]["step"] == 0 and blob["meta"]["diverged_at"] == 3
    for name, value in first[0].items():  # the state after data_init, before any update
        assert torch.equal(blob["state_dict"][name], value), name


def test_bitstream_finetuning_that_diverges_raises_and_restores_the_weights():
    from ibflow import TrainingDiverged

    torch.manual_seed(0)
    codec = ImageFlowCodec(levels=1, steps=1, hidden=8, sigma=0.1)
    data = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    codec.data_init(data[:8])
    codec.eval()
    codec.fit_entropy_model(data, steps=5)
    before = copy.deepcopy(codec.state_dict())
    calls = {"n": 0}

    def sample(n: int, seed: int) -> torch.Tensor:  # the fourth batch holds a NaN: the loss turns NaN there
        calls["n"] += 1
        x = data[torch.randint(len(data), (n,), generator=torch.Generator().manual_seed(seed))].clone()
        if calls["n"] == 4:
            x[0, 0, 0, 0] = float("nan")
        return x

    with pytest.raises(TrainingDiverged, match="diverged at step 3"):
        codec.finetune_bitstream(sample, 1e-2, steps=8, batch_size=4, lr=3e-3, seed=5)
    # fewer steps than checkpoint_every: the last good weights are those it started from
    for name, value in before.items():
        assert torch.equal(codec.state_dict()[name], value), name
    assert not codec.training  # given in eval mode, left in eval mode
