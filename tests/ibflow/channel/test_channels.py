"""Channel layers: the power constraint, noise variance against SNR, fading gains, erasure rate, converses."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.channel import (
    AWGNChannel,
    ErasureChannel,
    PowerNormalization,
    RayleighBlockFadingChannel,
    awgn_capacity,
    db_to_linear,
    get_channel,
)

SETTINGS = settings(deadline=None)
seeds = st.integers(0, 2**31 - 1)
snrs_db = st.floats(-10.0, 30.0)
# Statistical checks allow 5 standard errors: a false failure has probability ~6e-7 per example.
Z_TOL = 5.0


@SETTINGS
@given(n=st.integers(2, 300), k=st.integers(1, 6), scale=st.floats(1e-2, 1e2), power=st.floats(0.1, 10.0), seed=seeds)
def test_power_normalization_meets_the_constraint(n, k, scale, power, seed):
    g = torch.Generator().manual_seed(seed)
    s = scale * (torch.randn(n, k, generator=g, dtype=torch.float64) + 0.3)
    average = PowerNormalization(power, "average").train()
    torch.testing.assert_close(average(s).pow(2).mean(), torch.tensor(power, dtype=torch.float64), rtol=1e-9, atol=0)
    block = PowerNormalization(power, "block")
    torch.testing.assert_close(block(s).pow(2).mean(1), torch.full((n,), power, dtype=torch.float64), rtol=1e-9, atol=0)
    # evaluation mode: a fixed scale calibrated on data meets the constraint exactly on that data
    average.calibrate(s)
    average.eval()
    torch.testing.assert_close(average(s).pow(2).mean(), torch.tensor(power, dtype=torch.float64), rtol=1e-9, atol=0)


@SETTINGS
@given(seed=seeds, k=st.integers(1, 4))
def test_calibrated_power_holds_on_fresh_data_within_its_standard_error(seed, k):
    norm = PowerNormalization(1.0)
    g = torch.Generator().manual_seed(seed)
    norm.calibrate(3 * torch.randn(2**16, k, generator=g, dtype=torch.float64))
    norm.eval()
    fresh = norm(3 * torch.randn(2**14, k, generator=g, dtype=torch.float64)).pow(2).mean(1)
    # Tolerance: the standard errors of the test mean and of the calibration mean (power of N(0,1) symbols has
    # variance 2 per symbol, 2/k per row), combined.
    se = math.sqrt(2 / k / 2**14 + 2 / k / 2**16)
    assert abs(float(fresh.mean()) - 1.0) < Z_TOL * se


@SETTINGS
@given(snr_db=snrs_db, seed=seeds, k=st.integers(1, 4))
def test_awgn_noise_variance_matches_snr(snr_db, seed, k):
    channel = AWGNChannel(snr_db)
    s = torch.randn(4096, k, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    out = channel(s, torch.Generator().manual_seed(seed))
    assert out.state is None and out.y.shape == s.shape
    noise = out.y - s
    m = noise.numel()
    expected = 1.0 / db_to_linear(snr_db)
    # The sample variance of m Gaussian values has standard error var * sqrt(2 / (m - 1)).
    assert abs(float(noise.pow(2).mean()) - expected) < Z_TOL * expected * math.sqrt(2 / (m - 1))
    assert abs(float(noise.mean())) < Z_TOL * math.sqrt(expected / m)


@SETTINGS
@given(snr_db=snrs_db, seed=seeds, coherence=st.one_of(st.none(), st.integers(1, 3)), k=st.integers(1, 6))
def test_rayleigh_gain_has_unit_power_and_is_constant_per_block(snr_db, seed, coherence, k):
    channel = RayleighBlockFadingChannel(snr_db, coherence=coherence)
    s = torch.ones(8192, k, dtype=torch.float64)
    out = channel(s, torch.Generator().manual_seed(seed))
    h = out.state
    assert h is not None and h.shape == s.shape and bool((h >= 0).all())
    length = k if coherence is None else coherence
    for start in range(0, k, length):
        block = h[:, start : start + length]
        assert bool((block == block[:, :1]).all())
    gains = h[:, ::length].pow(2)  # one power gain per fading block, Exp(1): mean 1, variance 1
    assert abs(float(gains.mean()) - 1.0) < Z_TOL / math.sqrt(gains.numel())
    noise = out.y - h * s
    expected = 1.0 / db_to_linear(snr_db)
    assert abs(float(noise.pow(2).mean()) - expected) < Z_TOL * expected * math.sqrt(2 / (noise.numel() - 1))


@SETTINGS
@given(p=st.floats(0.0, 0.9), seed=seeds, snr_db=snrs_db)
def test_erasure_rate_and_erased_symbols(p, seed, snr_db):
    channel = ErasureChannel(snr_db, erasure_prob=p)
    s = torch.randn(4096, 3, dtype=torch.float64)
    out = channel(s, torch.Generator().manual_seed(seed))
    mask = out.state
    assert mask is not None and set(mask.unique().tolist()) <= {0.0, 1.0}
    assert bool((out.y[mask == 0] == 0).all())
    rate = 1 - float(mask.mean())
    # binomial standard error of the erasure frequency
    assert abs(rate - p) <= Z_TOL * math.sqrt(p * (1 - p) / mask.numel()) + 1e-12


@SETTINGS
@given(snr_db=snrs_db, n_source=st.integers(1, 4), n_channel=st.integers(1, 4))
def test_lower_bounds(snr_db, n_source, n_channel):
    snr, rho = db_to_linear(snr_db), n_channel / n_source
    opta = AWGNChannel(snr_db).distortion_ratio_lower_bound(n_source, n_channel)
    # OPTA: rate-distortion at the channel capacity, exp(-2 rho C) = (1 + SNR)^-rho
    assert opta == pytest.approx(math.exp(-2 * rho * awgn_capacity(snr)), rel=1e-12)
    assert opta == pytest.approx((1 + snr) ** -rho, rel=1e-12)
    # no erasures: the AWGN bound; fading only makes the bound larger (Jensen), and every bound is <= 1
    assert ErasureChannel(snr_db, 0.0).distortion_ratio_lower_bound(n_source, n_channel) == pytest.approx(opta)
    assert opta <= ErasureChannel(snr_db, 0.3).distortion_ratio_lower_bound(n_source, n_channel) <= 1
    fading = RayleighBlockFadingChannel(snr_db).distortion_ratio_lower_bound(n_source, n_channel)
    assert opta * (1 - 1e-9) <= fading <= 1


def test_rayleigh_bound_matches_monte_carlo():
    # E[(1 + g SNR)^-rho], g ~ Exp(1), by quadrature against 2^20 draws (tolerance: 5 standard errors)
    snr_db, n_source, n_channel = 10.0, 1, 2
    bound = RayleighBlockFadingChannel(snr_db).distortion_ratio_lower_bound(n_source, n_channel)
    g = torch.distributions.Exponential(1.0).sample((2**20,), ).double()
    values = (1 + g * db_to_linear(snr_db)) ** -2.0
    assert abs(bound - float(values.mean())) < Z_TOL * float(values.std()) / math.sqrt(len(values))


def test_with_snr_and_factory():
    channel = get_channel("erasure", 5.0, erasure_prob=0.2)
    other = channel.with_snr(15.0)
    assert isinstance(other, ErasureChannel) and other.erasure_prob == 0.2 and other.snr_db == 15.0
    assert get_channel("rayleigh", 3.0, coherence=2).with_snr(1.0).coherence == 2
    assert AWGNChannel(10.0).noise_std == pytest.approx(math.sqrt(0.1))
    assert awgn_capacity(1.0) == pytest.approx(0.5 * math.log(2))


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda: AWGNChannel(float("nan")), "snr_db"),
        (lambda: ErasureChannel(10.0, erasure_prob=1.0), "erasure_prob"),
        (lambda: RayleighBlockFadingChannel(10.0, coherence=0), "coherence"),
        (lambda: PowerNormalization(power=0.0), "power"),
        (lambda: PowerNormalization(mode="peak"), "mode"),  # type: ignore[arg-type]
        (lambda: get_channel("bsc", 1.0), "unknown channel"),
        (lambda: awgn_capacity(-1.0), "snr"),
    ],
)
def test_bad_arguments(make, needle):
    with pytest.raises(ValueError, match=needle):
        make()
