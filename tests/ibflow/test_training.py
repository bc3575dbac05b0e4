"""The one training loop: the objective each kind of codec implies, and the image fine-tuning through it."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import contracts
from ibflow import FlowCodec, ImageFlowCodec, QuantizedVectorCodec, TrainConfig, train
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
    codec = QuantizedVectorCodec(2, hidden=8)
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
    modules = [codec.encoder, codec.prior, codec.latent_model, codec.decoder]
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
