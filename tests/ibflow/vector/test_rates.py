"""Rate measurements against closed forms: a linear-Gaussian FlowCodec whose I(X;Z) is known exactly."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contracts.stats import Z_95
from ibflow import ActNorm, FlowCodec
from ibflow.entropy import StandardNormalBins
from ibflow.vector import (
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
