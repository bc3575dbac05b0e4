"""Difference-of-entropies estimator and its density models against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from estimators import estimate_mi
from estimators.closed_form import gaussian_mi_from_correlations
from estimators.densities import GaussianConditional, NormalScores, ScaleMixture
from estimators.doe import difference_of_entropies
from estimators.intervals import fit_bracket_interval, student_t_interval


def _sampling_half(e) -> float:  # type: ignore[no-untyped-def]
    """The 95 % Student-t half-width of the held-out mean alone (the interval's sampling part)."""
    low, high = student_t_interval(0.0, e.extra["pmi"])
    return (high - low) / 2


def _pair(n: int, rho: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, dim))


@settings(max_examples=6, deadline=None)
@given(rho=st.floats(0.3, 0.95), dim=st.integers(1, 3), seed=st.integers(0, 100))
def test_doe_recovers_gaussian_mi(rho: float, dim: int, seed: int) -> None:
    x, y = _pair(6000, rho, dim, seed)
    truth = gaussian_mi_from_correlations([rho] * dim)
    e = difference_of_entropies(x, y, steps=100, seed=seed, progress=False)
    # Correctly specified models: the bias is O(parameters / n) (about 0.005 nats here), so the
    # truth must lie within the 95 % half-width widened by 4/3 (2.6 standard errors, a 99 % interval)
    # plus 0.01 nats for that bias.
    half = _sampling_half(e)
    assert abs(e.value - truth) <= 4 / 3 * half + 0.01
    assert e.ci[0] < e.value < e.ci[1]


def test_doe_tracks_ten_nats_in_twenty_dimensions() -> None:
    # the target on the Poole et al. staircase top step: within 10 %, honest interval
    x, y = _pair(16000, math.sqrt(-math.expm1(-1.0)), 20, 0)
    e = estimate_mi(x, y, method="doe", seed=0, progress=False)
    assert abs(e.value - 10.0) < 1.0
    half = _sampling_half(e)
    # 2.6 standard errors (99 %) plus 0.05 nats of model bias: about 860 linear-Gaussian parameters on 9600 pairs
    # in 20 dimensions leave a held-out bias of order parameters / (2 n) = 0.04 nats
    assert abs(e.value - 10.0) <= 4 / 3 * half + 0.05


def test_doe_invariant_under_monotone_maps() -> None:
    # normal scores of f(x) equal those of x on the training split for increasing f; held-out
    # points move only within one order-statistic gap, so the estimate changes far less than its SE
    x, y = _pair(4000, 0.8, 2, 1)
    a = difference_of_entropies(x, y, steps=100, progress=False)
    b = difference_of_entropies(x**3 + x, np.exp(y), steps=100, progress=False)
    half = _sampling_half(a)
    assert abs(a.value - b.value) < 0.1 * half


@settings(max_examples=10, deadline=None)
@given(df=st.floats(2.5, 30.0), seed=st.integers(0, 50))
def test_scale_mixture_is_a_normalised_density(df: float, seed: int) -> None:
    train = stats.t(df).rvs(size=(3000, 1), random_state=seed)
    r = ScaleMixture(train)
    mass, _ = integrate.quad(lambda u: math.exp(r.log_prob(np.array([[u]]))[0]), -np.inf, np.inf, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_single_scale_is_the_gaussian_mle() -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 2.0]])
    cov = np.cov(a, rowvar=False, bias=True)
    expected = stats.multivariate_normal(a.mean(0), cov).logpdf(a[:7])
    got = ScaleMixture(a, scales=(1.0,), ridge=0.0).log_prob(a[:7])
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_scale_mixture_fits_heavy_tails_better() -> None:
    # a held-out Student-t sample: the mixture's cross-entropy is lower than the Gaussian's
    train, test = (stats.t(3).rvs(size=(4000, 2), random_state=s) for s in (0, 1))
    assert ScaleMixture(train).log_prob(test).mean() > ScaleMixture(train, scales=(1.0,)).log_prob(test).mean() + 0.1


def test_conditional_least_squares_start_is_the_linear_gaussian_fit() -> None:
    torch.manual_seed(0)
    x, y = _pair(2000, 0.7, 2, 4)
    q = GaussianConditional(2, 2, hidden=16, layers=1, scale_mixture=True).double()
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    q.init_least_squares(yt, xt)
    x1 = np.hstack([x, np.ones((2000, 1))])
    coef = np.linalg.lstsq(x1, y, rcond=None)[0]
    res = y - x1 @ coef
    cov = res.T @ res / 2000
    expected = stats.multivariate_normal(np.zeros(2), cov).logpdf(res[:5])
    # the scale-mixture weights start with mass 1/(1 + 12 e^-6) on c = 1: an upper bound on the gap
    got = q.log_prob(yt[:5], xt[:5]).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_normal_scores_are_monotone_and_finite() -> None:
    rng = np.random.default_rng(0)
    train = rng.exponential(size=(100, 2))
    ns = NormalScores(train)
    grid = np.linspace(-1, 10, 50)[:, None].repeat(2, 1)
    z = ns(grid)
    assert np.all(np.isfinite(z)) and np.all(np.diff(z[:, 0]) >= 0)


def test_doe_rejects_bad_input() -> None:
    x, y = _pair(2000, 0.5, 1, 0)
    with pytest.raises(ValueError, match="same number of rows"):
        difference_of_entropies(x, y[:-1], progress=False)
    with pytest.raises(ValueError, match="level"):
        difference_of_entropies(x, y, level=1.5, progress=False)
    with pytest.raises(ValueError, match="too few rows"):
        difference_of_entropies(x[:100], y[:100], progress=False)


def test_doe_interval_spans_in_sample_and_held_out() -> None:
    x, y = _pair(3000, 0.7, 2, 4)
    e = difference_of_entropies(x, y, steps=100, progress=False)
    assert e.value == e.extra["held_out"] == pytest.approx(float(np.mean(e.extra["pmi"])), abs=1e-12)
    assert e.ci == fit_bracket_interval(e.extra["in_sample"], e.value, e.extra["pmi"])
    assert e.ci[0] < min(e.extra["in_sample"], e.value) and max(e.extra["in_sample"], e.value) < e.ci[1]
