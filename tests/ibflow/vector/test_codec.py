"""FlowCodec: loss parts, posterior entropy, checkpoints, reproducibility, divergence guard, bad input."""

import math

import pytest
import torch

from ibflow import (
    FlowCodec,
    TrainConfig,
    TrainingDiverged,
    load_checkpoint,
    save_checkpoint,
    train,
)
from ibflow.training import beta_at
from synthetic import get_source


def small_codec(dim: int = 2, **kw) -> FlowCodec:
    torch.manual_seed(0)
    codec = FlowCodec(dim, hidden=8, **kw)
    codec.data_init(torch.randn(256, dim))
    return codec


def test_loss_parts_add_up():
    codec = small_codec()
    parts = codec.loss(torch.randn(128, 2), beta=0.7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(parts.total, parts.distortion + 0.7 * parts.rate)
    assert parts.distortion >= 0


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_posterior_entropy_closed_form(sigma):
    codec = small_codec(3, sigma=sigma)
    assert float(codec.posterior_entropy()) == pytest.approx(1.5 * math.log(2 * math.pi * math.e * sigma**2))


def test_prior_is_normalised_in_1d():
    codec = small_codec(1)
    with torch.no_grad():  # perturb the prior away from its init so the check is not trivial
        for p in codec.prior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    z = torch.linspace(-60, 60, 400_001, dtype=torch.float64)[:, None]
    codec = codec.double()
    with torch.no_grad():
        mass = torch.trapezoid(codec.prior_log_prob(z).exp(), z[:, 0])
    assert float(mass) == pytest.approx(1.0, abs=1e-6)


def test_data_init_decoder_is_least_squares():
    codec = small_codec(2)
    x = torch.randn(4096, 2) * torch.tensor([3.0, 0.2])
    gen = torch.Generator().manual_seed(1)
    codec.data_init(x, generator=gen)
    # the normal equations hold at the least-squares solution: residuals orthogonal to [z, 1]
    _, z = codec.sample_latent(x, torch.Generator().manual_seed(1))
    with torch.no_grad():
        resid = (x - codec.decode(z)).double()
    design = torch.cat([z, torch.ones(len(z), 1)], 1).double()
    assert torch.allclose(design.T @ resid / len(x), torch.zeros(3, 2, dtype=torch.float64), atol=1e-4)


def test_checkpoint_round_trip_weights_only(tmp_path):
    codec = small_codec(2, learn_sigma=True)
    path = tmp_path / "c.pt"
    save_checkpoint(codec, path, step=3)
    blob = torch.load(path, weights_only=True)
    assert blob["meta"]["step"] == 3
    again = load_checkpoint(path).eval()
    x = torch.randn(64, 2)
    codec.eval()
    assert torch.equal(codec.encode(x), again.encode(x))
    assert torch.equal(codec.prior_log_prob(x), again.prior_log_prob(x))


def test_training_is_reproducible():
    src = get_source("gaussian")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        codec = FlowCodec(1, hidden=8)
        train(codec, src.sample, 0.5, TrainConfig(steps=30, batch_size=256, seed=3), progress=False)
        runs.append(codec.encode(torch.linspace(-2, 2, 9)[:, None]))
    assert torch.equal(runs[0], runs[1])


def test_divergence_stops_and_keeps_last_good(tmp_path):
    src = get_source("gaussian")
    calls = {"n": 0}

    def sample(n, seed):  # data that turns to NaN after 25 steps
        calls["n"] += 1
        x = src.sample(n, seed=seed)
        return x * float("nan") if calls["n"] > 26 else x

    torch.manual_seed(0)
    codec = FlowCodec(1, hidden=8)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(TrainingDiverged, match="step 25") as info:
        train(codec, sample, 0.5, TrainConfig(steps=100, batch_size=128, checkpoint_every=10), checkpoint=ckpt,
              progress=False)
    assert str(ckpt) in str(info.value)
    blob = torch.load(ckpt, weights_only=True)
    # the saved weights are those of step 20 (the last multiple of checkpoint_every), all finite
    assert all(torch.isfinite(v).all() for v in blob["state_dict"].values() if v.is_floating_point())
    assert load_checkpoint(ckpt).encode(torch.zeros(1, 1)).isfinite().all()


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_beta_schedules_rise_to_beta(schedule):
    values = [beta_at(schedule, 2.0, t, 100, 0.3, 0.05) for t in range(100)]
    assert values[0] == pytest.approx(0.1)
    assert all(b <= a + 1e-12 for a, b in zip(values[1:], values[:-1]))  # non-decreasing
    assert values[30:] == [2.0] * 70
    assert beta_at("constant", 2.0, 0, 100, 0.3, 0.05) == 2.0


@pytest.mark.parametrize(
    "kwargs, name",
    [({"dim": 0}, "dim"), ({"dim": 1, "decoder": "x"}, "decoder"), ({"dim": 1, "sigma": 0.0}, "sigma"),
     ({"dim": 1, "distortion": "l7"}, "distortion")],
)
def test_bad_codec_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        FlowCodec(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"steps": 0}, "steps"), ({"batch_size": 1}, "batch_size"), ({"lr": -1.0}, "lr"),
     ({"schedule": "step"}, "schedule"), ({"warmup": 2.0}, "warmup")],
)
def test_bad_train_config(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**kwargs)


def test_bad_beta():
    with pytest.raises(ValueError, match="beta"):
        train(small_codec(1), get_source("gaussian").sample, 0.0, TrainConfig(steps=1), progress=False)
