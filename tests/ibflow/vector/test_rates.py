"""Rate measurements against closed forms: a linear-Gaussian FlowCodec whose I(X;Z) is known exactly."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contracts.stats import Z_95
from ibflow import ActNorm, FlowCodec, FlowSequential
from ibflow.entropy import StandardNormalBins
from ibflow.vector import (
    fit_base_coding,
    matched_bin_width,
    measure_binned,
    measure_channel,
    mi_sandwich,
)
from synthetic import get_source


def linear_codec(a: float, s2: float, sigma: float) -> FlowCodec:
    """A 1-D codec with f(x) = a x and the exact prior N(0, a^2 s2 + sigma^2), so that
    E KL(q(z|x) || p(z)) = I(X; Z) = 1/2 log(1 + a^2 s2 / sigma^2) for X ~ N(0, s2)."""
    codec = FlowCodec(1, sigma=sigma, spline_bins=None)
    enc, pri = codec.encoder.flows[0], codec.prior.flows[0]
    assert isinstance(enc, ActNorm) and isinstance(pri, ActNorm)
    with torch.no_grad():
        for layer, scale in ((enc, a), (pri, 1 / math.sqrt(a**2 * s2 + sigma**2))):
            layer.bias.zero_()
            layer.log_scale.fill_(math.log(scale))
            layer.initialized.fill_(True)
        # MMSE decoder: x_hat = a s2 / (a^2 s2 + sigma^2) z
        codec.decoder.affine.weight.fill_(a * s2 / (a**2 * s2 + sigma**2))
    return codec.eval()


@given(st.floats(0.2, 5.0), st.floats(0.3, 3.0), st.integers(0, 2**16))
def test_kl_and_sandwich_match_closed_form(a, s2, seed):
    sigma = 1.0
    codec = linear_codec(a, s2, sigma)
    x = get_source("gaussian", variance=s2).sample(20_000, seed=seed)
    mi = 0.5 * math.log(1 + a**2 * s2 / sigma**2)
    ch = measure_channel(codec, x, seed=seed)
    # statistical check: the truth lies within 4 standard errors of the Monte-Carlo mean (fixed seeds)
    assert abs(ch.rate_kl.value - mi) <= 4 * ch.rate_kl.se
    d_mmse = s2 * sigma**2 / (a**2 * s2 + sigma**2)
    assert abs(ch.distortion.value - d_mmse) <= 4 * ch.distortion.se
    lo, up = mi_sandwich(codec, x, batch_size=1000, seed=seed)
    # the minibatch bounds bracket I(X;Z) up to their own Monte-Carlo error (4 SE across batches)
    assert lo.value - 4 * lo.se <= mi <= up.value + 4 * up.se
    assert lo.value <= up.value


def test_sandwich_lower_bound_capped_at_log_k():
    # a near-noiseless channel: I(X;Z) is huge, the lower bound saturates at log K
    codec = linear_codec(1e3, 1.0, 1.0)
    x = get_source("gaussian").sample(4000, seed=0)
    lo, up = mi_sandwich(codec, x, batch_size=200)
    assert lo.value <= math.log(200) + 1e-9
    assert up.value > math.log(200)


def test_binned_rate_and_bitstream_agree_and_decode():
    codec = linear_codec(3.0, 1.0, 1.0)
    x = get_source("gaussian").sample(50_000, seed=1)
    b = measure_binned(codec, x)
    assert b.decoded_exactly and b.clipped == 0
    # Same symbols, so no sampling error between the two: the coder's excess over the ideal code
    # length is one partial 32-bit word per stream plus constriction's fixed-point (24-bit) model,
    # whose relative probability error is far below 1 %.
    overhead = 64 * math.log(2) / len(x)
    assert abs(b.rate_coded - b.rate_binned.value) <= overhead + 0.01 * b.rate_binned.value
    assert b.distortion_coded == pytest.approx(b.distortion_binned.value, rel=1e-6)
    # a real code cannot beat R(D) (beyond Monte-Carlo error on D)
    src = get_source("gaussian")
    assert b.rate_coded >= src.rate_distortion(b.distortion_binned.ci[1]).lower
    # high-rate theory (Gish & Pierce 1968): the matched-noise entropy-coded quantiser pays about
    # 1/2 log(pi e / 6) = 0.254 bit over R(D) at the same distortion
    gap_bits = (b.rate_binned.value - src.rate_distortion(b.distortion_binned.value).lower) / math.log(2)
    assert 0.1 < gap_bits < 0.35


def test_matched_bin_width_for_linear_prior():
    # u = z / sqrt(a^2 + sigma^2): noise in base space has std sigma / sqrt(a^2 + sigma^2)
    a = 2.0
    codec = linear_codec(a, 1.0, 1.0)
    x = get_source("gaussian").sample(100_000, seed=2)
    expected = [math.sqrt(12) / math.sqrt(a**2 + 1)]
    # the estimate is a sample RMS of a Gaussian: relative SE is 1/sqrt(2n)
    assert matched_bin_width(codec, x) == pytest.approx(expected, rel=4 / math.sqrt(2 * 100_000))


@given(st.floats(0.05, 4.0), st.integers(-40, 40))
def test_bin_log_pmf_matches_normal_cdf(delta, k):
    import mpmath

    bins = StandardNormalBins(delta)
    got = float(bins.log_pmf(torch.tensor([k])))
    # exact reference far into the tails where float64 CDFs underflow: the pmf is symmetric, and for
    # k >= 0 the upper-tail form erfc keeps full relative precision
    m = abs(k)
    with mpmath.workdps(60):
        tail = lambda t: mpmath.erfc(t / mpmath.sqrt(2)) / 2  # noqa: E731
        want = float(mpmath.log(tail((m - 0.5) * delta) - tail((m + 0.5) * delta)))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_bins_sum_to_one():
    bins = StandardNormalBins(0.3)
    k = torch.arange(-bins.max_index, bins.max_index + 1)
    assert float(bins.log_pmf(k).exp().sum()) == pytest.approx(1.0, abs=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="delta"):
        StandardNormalBins(0.0)
    with pytest.raises(ValueError, match="batch_size"):
        mi_sandwich(linear_codec(1.0, 1.0, 1.0), torch.randn(10, 1), batch_size=1)


def test_z95():
    from scipy.stats import norm

    assert Z_95 == pytest.approx(norm.ppf(0.975), rel=1e-12)


def spread_codec(dim: int) -> FlowCodec:
    """A codec whose encoder and prior are one identity ActNorm each and whose learned decoder is at its
    initial identity: u = h(f(x)) = x, x_hat = z."""
    codec = FlowCodec(dim, sigma=1.0, spline_bins=None, depth=1)
    codec.encoder, codec.prior = FlowSequential(ActNorm(dim)), FlowSequential(ActNorm(dim))
    for flow in (codec.encoder, codec.prior):
        flow.flows[0].initialized.fill_(True)
    x = torch.randn(64, dim)
    assert torch.allclose(codec.base_latent(x).float(), x, atol=1e-6) and torch.allclose(codec.decode(x), x, atol=1e-6)
    return codec.eval()


def test_fit_base_coding_gathers_a_signal_spread_over_every_coordinate():
    # x = s w with w = (1, ..., 1) / 4 in 16 dimensions, s ~ N(0, 9): each coordinate of u = x carries
    # variance 9/16 against unit noise, so per-coordinate bins of the matched width sqrt(12) decode to 0
    # nearly always; rotated, one column carries s at SNR 9 and is all the stream needs.
    dim, beta = 16, 1.0
    codec = spread_codec(dim)
    w = torch.ones(dim) / math.sqrt(dim)

    def draw(n: int, seed: int) -> torch.Tensor:
        return 3 * torch.randn(n, 1, generator=torch.Generator().manual_seed(seed)) * w

    design, x = draw(32_768, 0), draw(65_536, 1)
    fit = fit_base_coding(codec, design, beta=beta)
    assert fit.coded == [True] + [False] * (dim - 1)
    assert abs(float(fit.rotation[:, 0] @ w.double())) > 0.999
    assert fit.snr[0] == pytest.approx(9.0, rel=0.05)  # var(s) / var(noise), each a sample variance
    plain = measure_binned(codec, x, delta=matched_bin_width(codec, x))
    rotated = measure_binned(codec, x, design=design, beta=beta)
    assert rotated.coded_dims == 1 and rotated.decoded_exactly and plain.decoded_exactly
    # each distortion is a mean over 65,536 samples; the gap between them is > 60 of their SEs
    gap = plain.distortion_binned.value - rotated.distortion_binned.value
    se = math.hypot(plain.distortion_binned.se, rotated.distortion_binned.se)
    assert gap > 60 * se and rotated.distortion_binned.value < 0.25 * plain.distortion_binned.value
    # binning v1 = s at width sqrt(12): D = E[(s - Q(s))^2] ~ Delta^2 / 12 = 1, the high-resolution value
    # (s's std is less than one width, so only to 20 %)
    assert rotated.distortion_binned.value == pytest.approx(1.0, rel=0.2)
    # and the objective the coding was chosen by is better on the test samples too (the prior here is
    # N(0, I) in u = x, not the data's, so the rates alone say little)
    lagrangian = [b.distortion_binned.value + beta * b.rate_binned.value for b in (plain, rotated)]
    assert lagrangian[1] < lagrangian[0] - 60 * se


def test_fit_base_coding_in_one_dimension_is_the_matched_width():
    codec = linear_codec(2.0, 1.0, 1.0)
    x = get_source("gaussian").sample(50_000, seed=3)
    fit = fit_base_coding(codec, x, beta=0.5)
    assert fit.rotation.tolist() == [[1.0]] and fit.coded == [True]
    assert fit.delta == pytest.approx(matched_bin_width(codec, x), rel=1e-9)  # same noise draw (seed 0)


@given(st.integers(0, 3), st.integers(0, 2**16))
def test_streams_of_some_or_no_coded_columns_round_trip(m, seed):
    dim = 3
    codec = spread_codec(dim)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    codec.set_base_coding(q, [0.3, 0.5, 0.7], [j < m for j in range(dim)])
    x = torch.randn(20, dim, generator=torch.Generator().manual_seed(seed + 1))
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert k.shape == (20, m)
    assert torch.equal(codec.decompress_symbols(**stream), k)
    x_hat = codec.decompress(**stream)["x_hat"]
    assert torch.equal(x_hat, codec.reconstruct(k))
    if m == dim:  # every column coded: the error is the bins' along Q, at most half a width each
        err = (x.double() - x_hat.double()) @ q
        assert bool(torch.all(err.abs() <= torch.tensor([0.15, 0.25, 0.35], dtype=torch.float64) + 1e-5))
    if m == 0:  # nothing coded: every row decodes to the prior's mean, u = 0
        assert torch.allclose(x_hat, torch.zeros_like(x_hat), atol=1e-6)


def test_set_base_coding_refuses_what_is_not_a_rotation_or_a_mask():
    codec = FlowCodec(2)
    with pytest.raises(ValueError, match="orthogonal"):
        codec.set_base_coding(torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        codec.set_base_coding(torch.eye(3))
    with pytest.raises(ValueError, match="each of the 2"):
        codec.set_base_coding(None, 1.0, [True])


def test_a_state_dict_from_before_the_rotation_loads_as_the_identity():
    codec = FlowCodec(2)
    state = {k: v for k, v in codec.state_dict().items() if k not in ("base_rotation", "coded_dims")}
    other = FlowCodec(2)
    other.set_base_coding(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), 0.5, [True, False])
    other.load_state_dict(state)
    assert torch.equal(other.base_rotation, torch.eye(2, dtype=torch.float64)) and bool(other.coded_dims.all())


@pytest.mark.parametrize("kwargs, needle", [({"beta": -1.0}, "beta must be finite"), ({"beta": 1.0, "select_samples": 0}, "select_samples")])
def test_fit_base_coding_refuses_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        fit_base_coding(FlowCodec(2), torch.randn(16, 2), **kwargs)
