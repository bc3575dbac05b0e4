"""The two-terminal FlowCodec: its block-diagonal encoder is a flow, its rates are the closed-form Berger-Tung rates of
a hand-set linear-Gaussian codec, and a short training run on a correlated Gaussian pair lands on the Berger-Tung
sum-rate optimum of Wagner, Tavildar & Viswanath (2008).

Tolerances are Monte-Carlo standard errors (SE) of the sample means involved, stated at each assert; hypothesis
runs derandomized (conftest.py), so every case is fixed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import CODECS, TrainConfig, get_codec, load_checkpoint, save_checkpoint, train
from ibflow.distortion import squared_error
from ibflow.flows import ActNorm, BlockDiagonal, ConditionalAffine, Flow, FlowSequential, build_vector_flow
from ibflow.vector import (
    TwoTerminalFlowCodec,
    build_conditional_prior,
    fit_two_terminal_coding,
    measure_two_terminal_coding,
    rate_without_binning,
)
from ibflow.vector.binning import CosetCode
from synthetic.distributed import berger_tung_gaussian, two_terminal_sum_rate
from synthetic.sources import GaussianSideInformation


M = TypeVar("M", bound=torch.nn.Module)


def _perturbed(module: M, seed: int, scale: float = 0.3) -> M:
    """``module`` in float64 with every parameter moved off its (identity) initialisation."""
    gen = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


# ---- 1. the block-diagonal flow is a flow: it inverts, its log-det is the Jacobian's, and its blocks do not mix

@given(seed=st.integers(0, 2**16), d1=st.integers(1, 3), d2=st.integers(1, 3))
def test_the_block_diagonal_flow_inverts_and_its_log_det_matches_autograd(seed: int, d1: int, d2: int) -> None:
    # an unconditional block (splines, couplings) beside a conditional one, so the context is passed through too
    flow = BlockDiagonal([build_vector_flow(d1, depth=2, hidden=8), build_conditional_prior(d2, 2, depth=2, hidden=8)], [d1, d2])
    gen = torch.Generator().manual_seed(seed)
    x = 1.5 * torch.randn(6, d1 + d2, generator=gen, dtype=torch.float64)
    context = torch.randn(6, 2, generator=gen, dtype=torch.float64)
    flow.double().train()(x, context)  # initialise the ActNorms
    flow = _perturbed(flow.eval(), seed)
    with torch.no_grad():
        y, logdet = flow(x, context)
        assert torch.allclose(flow.inverse(y, context), x, atol=1e-10)
    for i in range(len(x)):
        jac = torch.autograd.functional.jacobian(lambda row, i=i: flow(row[None], context[i : i + 1])[0][0], x[i])
        assert logdet[i].item() == pytest.approx(torch.linalg.slogdet(jac).logabsdet.item(), abs=1e-9)
        # output block 2 does not depend on input block 1, nor block 1 on block 2: exactly, not to rounding
        assert torch.count_nonzero(jac[d1:, :d1]) == 0 and torch.count_nonzero(jac[:d1, d1:]) == 0


def test_the_block_diagonal_flow_refuses_bad_blocks_and_inputs() -> None:
    with pytest.raises(TypeError, match=r"flows\[1\] must be a Flow"):
        BlockDiagonal([ActNorm(1), torch.nn.Linear(1, 1)], [1, 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sizes must give one size per flow"):
        BlockDiagonal([ActNorm(1), ActNorm(1)], [1])
    with pytest.raises(ValueError, match=r"sizes\[0\] must be an integer >= 1"):
        BlockDiagonal([ActNorm(1)], [0])
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3\)"):
        BlockDiagonal([ActNorm(2), ActNorm(1)], [2, 1])(torch.randn(4, 2))


# ---- 2. the rates equal the closed-form Berger-Tung rates for a hand-set linear-Gaussian codec

def _only_layer(flow: Flow) -> Flow:
    """The one layer of a one-layer FlowSequential."""
    assert isinstance(flow, FlowSequential) and len(flow) == 1, flow
    return flow[0]


def _linear_gaussian_codec(a1: float, a2: float, sigma: float, rho: float) -> TwoTerminalFlowCodec:
    """f_i(x) = a_i x, p(z1) = N(0, v1) and p(z2|z1) = N(c z1, v2|1): the exact law of (z1, z2) when (x1, x2) is
    the unit-variance pair of correlation rho, with v1 = a1^2 + sigma^2, c = rho a1 a2 / v1 and
    v2|1 = a2^2 + sigma^2 - (rho a1 a2)^2 / v1."""
    codec = TwoTerminalFlowCodec(1, 1, sigma=sigma, depth=1, hidden=8, spline_bins=None)
    v1 = a1 * a1 + sigma * sigma
    # spline_bins=None: each encoder and p(z1) is one ActNorm, (x + b) e^s
    encoder_1, encoder_2 = (_only_layer(block) for block in codec.encoder)
    layers = [(encoder_1, math.log(a1)), (encoder_2, math.log(a2)), (_only_layer(codec.first_prior), -0.5 * math.log(v1))]
    with torch.no_grad():
        for layer, log_scale in layers:
            assert isinstance(layer, ActNorm)
            layer.bias.zero_()
            layer.log_scale.fill_(log_scale)
            layer.initialized.fill_(True)
    variance = a2 * a2 + sigma * sigma - (rho * a1 * a2) ** 2 / v1
    conditional = _only_layer(codec.second_prior)
    assert isinstance(conditional, ConditionalAffine)
    conditional.set_affine(torch.tensor([[rho * a1 * a2 / v1]]), torch.zeros(1), torch.tensor([0.5 * math.log(variance)]))
    return codec


@given(a1=st.floats(0.2, 5.0), a2=st.floats(0.2, 5.0), sigma=st.floats(0.2, 2.0), rho=st.floats(-0.95, 0.95))
def test_the_rates_are_the_closed_form_berger_tung_rates_of_the_linear_gaussian_channel(
    a1: float, a2: float, sigma: float, rho: float
) -> None:
    pair = GaussianSideInformation(rho)  # [x1, x2], unit variances, correlation rho
    codec = _linear_gaussian_codec(a1, a2, sigma, rho).double()
    with torch.no_grad():
        batch = pair.sample(100_000, seed=1).double()
        _, z = codec.sample_latent(batch, torch.Generator().manual_seed(2))
        codec.fit_decoder(batch, z)  # least squares of [x1, x2] on [z1, z2], fitted here and measured on fresh samples
        fresh = pair.sample(100_000, seed=3).double()
        _, z = codec.sample_latent(fresh, torch.Generator().manual_seed(4))
        r1, r2 = codec.rates_per_sample(z)
        parts = codec.distortion_parts(fresh, codec.decode(z))
    # the prior is the true law of z, so E r1 = I(X1; Z1), E r2 = I(X2; Z2 | Z1) and their sum I(X1 X2; Z1 Z2):
    # the Berger-Tung rates of U_i = Z_i / a_i = X_i + W_i, W_i ~ N(0, sigma^2 / a_i^2), decoding U1 first
    point = berger_tung_gaussian(sigma**2 / a1**2, sigma**2 / a2**2, rho)
    # the sum rate independently: 1/2 log(det Cov Z / det Cov(Z | X)), Cov Z = A K A + sigma^2 I, A = diag(a)
    cov = torch.tensor([[a1 * a1 + sigma**2, rho * a1 * a2], [rho * a1 * a2, a2 * a2 + sigma**2]], dtype=torch.float64)
    assert point.sum_rate == pytest.approx(0.5 * (torch.logdet(cov).item() - 2 * math.log(sigma**2)), rel=1e-9)
    # 4 SE each: 25 hypothesis cases x 5 checks at a two-sided 6e-5 each
    for rate, limit in ((r1 + r2, point.sum_rate), (r1, point.rate_1), (r2, point.rate_2)):
        se = rate.std().item() / math.sqrt(len(rate))
        assert abs(rate.mean().item() - limit) < 4 * se, (rate.mean().item(), limit, se)
    # the decoder is E[X_i | Z1, Z2], linear here: 4 SE of the sample mean, plus the least-squares fit's own
    # excess error, O(k / n) relative (k = 3 terms)
    for i, distortion in enumerate((point.distortion_1, point.distortion_2)):
        error = parts[:, i]
        se = error.std().item() / math.sqrt(len(error))
        assert abs(error.mean().item() - distortion) < 4 * se + 1e-4 * distortion, (i, error.mean().item(), distortion)


# ---- 3. a short training run lands on the Berger-Tung sum-rate optimum

def _sum_rate_gradient(D1: float, D2: float, rho: float, h: float = 1e-6) -> tuple[float, float]:
    """(dR/dD1, dR/dD2) of two_terminal_sum_rate by central differences (relative step h; the function is
    smooth inside the "both" regime, where the error is O(h^2))."""
    g1 = (two_terminal_sum_rate(D1 * (1 + h), D2, rho) - two_terminal_sum_rate(D1 * (1 - h), D2, rho)) / (2 * h * D1)
    g2 = (two_terminal_sum_rate(D1, D2 * (1 + h), rho) - two_terminal_sum_rate(D1, D2 * (1 - h), rho)) / (2 * h * D2)
    return g1, g2


def test_training_on_the_gaussian_pair_lands_on_the_berger_tung_sum_rate() -> None:
    torch.manual_seed(0)
    rho = 0.9
    pair = GaussianSideInformation(rho)
    codec = TwoTerminalFlowCodec(1, 1, depth=1, hidden=16)
    # beta = 0.1: D1 + D2 + beta R_sum(D1, D2) is least at D1 = D2 = 0.0478, R_sum = 2.235 nats (numerical
    # minimum of the WTV formula). lr 2e-2: at 1e-2 the spline encoders, which reach their gain through a
    # transient nonlinearity, are still 1% nonlinear after 300 steps and the gap is 0.032 nats
    train(codec, pair.sample, 0.1, TrainConfig(steps=300, batch_size=512, lr=2e-2, seed=0), progress=False)
    batch = pair.sample(100_000, seed=12345).double()
    codec = codec.double()
    with torch.no_grad():
        _, z = codec.sample_latent(batch, torch.Generator().manual_seed(7))
        r1, r2 = codec.rates_per_sample(z)
        parts = codec.distortion_parts(batch, codec.decode(z))
    rate = r1 + r2
    D1, D2 = parts.mean(0).tolist()
    assert 0.02 < D1 < 0.15 and 0.02 < D2 < 0.15, (D1, D2)  # both constraints active, well inside (0, 1 - rho^2)
    assert two_terminal_sum_rate(D1, D2, rho) > max(0.5 * math.log(1 / D1), 0.5 * math.log(1 / D2))  # the "both" regime
    # the gap E(r1 + r2) - R_sum(D1, D2) as one sample mean by the delta method: per sample
    # r_i - g1 e1_i - g2 e2_i with g = grad R_sum at (D1, D2), so its SE takes the correlation of rate and
    # distortions into account
    g1, g2 = _sum_rate_gradient(D1, D2, rho)
    gap = rate.mean().item() - two_terminal_sum_rate(D1, D2, rho)
    se = (rate - g1 * parts[:, 0] - g2 * parts[:, 1]).std().item() / math.sqrt(len(rate))
    # an upper bound, never below beyond the noise. Measured (seed 0, one thread): D1 = 0.0490, D2 = 0.0493,
    # E r1 = 1.422, E r2 = 0.787, R_sum = 2.208, a gap of 0.0018 nats with SE 0.0044 (seeds 1-3: 0.0003, 0.0032,
    # 0.0009; 600 steps: -0.004 to -0.003 at every seed): the optimum is reached within the noise, as it can be
    # (it is linear-Gaussian). 0.02 nats (0.029 bit, under the 0.05-bit target) is that largest gap plus
    # 4 SE, and fails the unconverged lr 1e-2 run (0.032)
    assert gap > -3 * se, (D1, D2, rate.mean().item(), gap, se)
    assert gap < 0.02, (D1, D2, rate.mean().item(), gap, se)
    # the correlation is used: coding X1 and X2 separately costs 1/2 log(1 / D1) + 1/2 log(1 / D2), 0.8 nats more
    separate = 0.5 * math.log(1 / D1) + 0.5 * math.log(1 / D2)
    assert separate - rate.mean().item() > 0.6, (separate, rate.mean().item())


# ---- 4. no coordination, arguments, batches, the loss's parts, registration, checkpoints

def test_each_encoder_sees_its_own_source_only() -> None:
    codec = TwoTerminalFlowCodec(2, 1, hidden=4)
    batch = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    codec.data_init(batch, torch.Generator().manual_seed(1))
    codec = _perturbed(codec.eval(), seed=2).float()  # encoders off their identity start, both nonlinear
    _, z = codec.sample_latent(batch, torch.Generator().manual_seed(3))
    other_x1, other_x2 = batch.clone(), batch.clone()
    other_x1[:, :2] = torch.randn(64, 2)
    other_x2[:, 2:] = torch.randn(64, 1)
    # the same noise: z2 is the same whatever x1 is, z1 the same whatever x2 is, and each does change with its own
    z_other_x1 = codec.sample_latent(other_x1, torch.Generator().manual_seed(3))[1]
    z_other_x2 = codec.sample_latent(other_x2, torch.Generator().manual_seed(3))[1]
    assert torch.equal(z_other_x1[:, 2:], z[:, 2:]) and not torch.equal(z_other_x1[:, :2], z[:, :2])
    assert torch.equal(z_other_x2[:, :2], z[:, :2]) and not torch.equal(z_other_x2[:, 2:], z[:, 2:])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"dim1": 0, "dim2": 1}, "dim1"), ({"dim1": 1, "dim2": 0}, "dim2"), ({"dim1": True, "dim2": 1}, "dim1"),
     ({"dim1": 1, "dim2": 1.5}, "dim2"), ({"dim1": 1, "dim2": 1, "sigma": 0.0}, "sigma")],
)
def test_bad_arguments_raise_value_errors_naming_them(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"^{name} must"):
        TwoTerminalFlowCodec(**kwargs)


@pytest.mark.parametrize("shape", [(8, 2), (8, 4), (8,), (2, 3, 1)])
def test_a_batch_of_the_wrong_width_is_refused(shape: tuple[int, ...]) -> None:
    codec = TwoTerminalFlowCodec(2, 1, hidden=4)
    batch = torch.randn(shape)
    for call in (codec.split, codec, codec.data_init, lambda b: codec.loss(b, 0.5)):
        with pytest.raises(ValueError, match=r"batch must have shape \(n, dim1 \+ dim2\) = \(n, 3\)"):
            call(batch)


def test_the_loss_is_the_sum_of_its_parts_and_agrees_with_forward() -> None:
    codec = TwoTerminalFlowCodec(2, 1, hidden=4)
    batch = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    codec.data_init(batch, torch.Generator().manual_seed(1))
    codec = _perturbed(codec, seed=2, scale=0.1).float()
    parts = codec.loss(batch, 0.25, torch.Generator().manual_seed(3))
    out = codec(batch, torch.Generator().manual_seed(3))  # the same noise
    extra = parts.extra
    # float32 sums of 256 terms of size ~1: equal to ~1e-6 relative
    assert torch.allclose(parts.rate, out["rate"].mean()) and torch.allclose(parts.rate, extra["rate_1"] + extra["rate_2"])
    assert torch.allclose(parts.distortion, squared_error(batch, out["x_hat"]).mean())
    assert torch.allclose(extra["distortion_1"], squared_error(batch[:, :2], out["x_hat"][:, :2]).mean())
    assert torch.allclose(extra["distortion_2"], squared_error(batch[:, 2:], out["x_hat"][:, 2:]).mean())
    assert torch.allclose(parts.total, parts.distortion + 0.25 * parts.rate)
    # r1 is a function of z1 alone (p(z1) does not look at z2), r2 of both
    _, z = codec.sample_latent(batch, torch.Generator().manual_seed(4))
    moved = z.clone()
    moved[:, 2:] += 1.0
    (r1, r2), (s1, s2) = codec.rates_per_sample(z), codec.rates_per_sample(moved)
    assert torch.equal(r1, s1) and not torch.allclose(r2, s2)


def test_it_is_registered_as_a_distributed_codec_and_checkpoints_round_trip(tmp_path: Path) -> None:
    entry = CODECS.get("flowcodec-two-terminal")
    assert entry.obj is TwoTerminalFlowCodec and entry.tags == frozenset({"distributed"})
    assert "flowcodec-two-terminal" not in CODECS.tagged("vector")  # the vector loops pass plain x batches
    codec = get_codec("flowcodec-two-terminal", 2, 1, hidden=8)  # positional, as tests/ibflow/test_contract.py builds it
    assert (codec.dim1, codec.dim2, codec.dim) == (2, 1, 3)
    batch = torch.randn(128, 3, generator=torch.Generator().manual_seed(0))
    codec.data_init(batch, torch.Generator().manual_seed(1))
    save_checkpoint(codec.eval(), tmp_path / "tt.pt")
    assert torch.load(tmp_path / "tt.pt", weights_only=True)["codec"] == "flowcodec-two-terminal"
    loaded = load_checkpoint(tmp_path / "tt.pt").eval()
    assert type(loaded) is TwoTerminalFlowCodec and loaded.config == codec.config
    with torch.no_grad():
        a, b = codec(batch, torch.Generator().manual_seed(2)), loaded(batch, torch.Generator().manual_seed(2))
    assert torch.equal(a["x_hat"], b["x_hat"]) and torch.equal(a["rate"], b["rate"])
    assert loaded.codes is None  # no codes until they are fitted (test_binning.py codes with them)


# ---- 5. the bitstreams: one per encoder, the second binned and resolved with z1_hat


def _coded_linear_codec(rho: float = 0.9, beta: float = 0.1) -> tuple[TwoTerminalFlowCodec, GaussianSideInformation]:
    pair = GaussianSideInformation(rho)
    codec = _linear_gaussian_codec(3.0, 3.0, 1.0, rho).double()
    with torch.no_grad():
        batch = pair.sample(50_000, seed=5).double()
        _, z = codec.sample_latent(batch, torch.Generator().manual_seed(6))
        codec.fit_decoder(batch, z)
    codec.eval()
    fit_two_terminal_coding(codec, pair.sample(2**14, seed=7).double(), beta)
    return codec, pair


def test_the_streams_round_trip_each_from_its_own_source_and_refuse_corruption(tmp_path) -> None:
    codec, pair = _coded_linear_codec()
    batch = pair.sample(3000, seed=8).double()
    stream = codec.compress(batch)
    assert len(stream["strings"]) == 2 and stream["shape"] == (3000,)
    out = codec.decompress(stream["strings"], stream["shape"])
    assert out["x_hat"].shape == batch.shape
    # no coordination: encoder 2's string is the same whatever x1 is, and encoder 1's whatever x2 is
    other = batch.clone()
    other[:, 0] = torch.randn(3000, dtype=torch.float64)
    assert codec.compress(other)["strings"][1] == stream["strings"][1]
    other = batch.clone()
    other[:, 1] = torch.randn(3000, dtype=torch.float64)
    assert codec.compress(other)["strings"][0] == stream["strings"][0]
    s1, s2 = stream["strings"]
    with pytest.raises(BitstreamError, match="two strings"):
        codec.decompress([s1], stream["shape"])
    with pytest.raises(BitstreamError, match="another coset code"):
        codec.decompress([s2, s1], stream["shape"])  # swapped: the digests (dither seeds) differ
    for which in (0, 1):
        for i in (0, len(stream["strings"][which]) // 2, len(stream["strings"][which]) - 1):
            bad = [bytearray(s) for s in stream["strings"]]
            bad[which][i] ^= 0x08
            with pytest.raises(BitstreamError):
                codec.decompress([bytes(b) for b in bad], stream["shape"])
    save_checkpoint(codec, tmp_path / "tt.pt")
    loaded = load_checkpoint(tmp_path / "tt.pt").double().eval()
    assert loaded.codes == codec.codes
    assert loaded.compress(batch)["strings"] == stream["strings"]
    again = loaded.decompress(**stream)
    assert all(torch.equal(a, b) for a, b in zip(again["index"], out["index"]))
    # the loaded codec is built in float32 and its float64 weights are cast on loading: x_hat agrees to
    # float32 rounding (the indices, which the bitstream decides, exactly)
    assert torch.allclose(again["x_hat"], out["x_hat"], rtol=1e-6, atol=1e-6)


def test_bad_codes_are_refused() -> None:
    codec, _ = _coded_linear_codec()
    assert codec.codes is not None
    first, second = codec.codes
    with pytest.raises(ValueError, match="modulus None"):
        codec.set_codes(second, second)
    with pytest.raises(ValueError, match="different dither seeds"):
        codec.set_codes(first, CosetCode(second.delta, second.modulus, second.low, second.high, second.pmf, first.seed))
    fresh = TwoTerminalFlowCodec(1, 1)
    with pytest.raises(ValueError, match="no codes are set"):
        fresh.compress(torch.zeros(4, 2))


def test_the_coded_sum_rate_lies_between_berger_tung_and_separate_coding() -> None:
    codec, pair = _coded_linear_codec()
    m = measure_two_terminal_coding(codec, pair.sample(2**16, seed=9).double())
    assert m.decoded_exactly and m.clipped == 0
    rate = sum(m.rates_operational)
    D1_hi, D2_hi = (d + 4 * s for d, s in zip(m.distortion, m.distortion_se))
    # a real pair of codes cannot beat the Berger-Tung sum rate (tight: Wagner et al. 2008) at its distortions
    assert rate >= two_terminal_sum_rate(D1_hi, D2_hi, 0.9)
    # the bytes are the ideal code lengths plus two containers and ANS tails (< 100 bytes each)
    for r_op, r_code in zip(m.rates_operational, m.rates_code):
        assert 0 <= (r_op - r_code) * 2**16 / math.log(2) / 8 < 100
    # binning uses z1_hat: encoder 2's binned stream costs less than its own index sent whole (the same
    # width, coded under the index's pmf, no side information used). Measured (seeds fixed): modulus 4,
    # 1.987 bits against 2.415, at a coset error rate of 0.002; the sum, 4.41 bits, is 1.35 above
    # Berger-Tung (3.06): two scalar quantizers and a scalar coset code, far from the ideal
    first, second = codec.codes or (None, None)
    assert second is not None and second.modulus is not None
    test = pair.sample(2**16, seed=9).double()
    unbinned = rate_without_binning(second, codec.latent_means(pair.sample(2**14, seed=7).double())[1], codec.latent_means(test)[1])
    assert m.rates_operational[1] < unbinned - 0.2 * math.log(2)
    assert m.error_rate < 0.02, m
