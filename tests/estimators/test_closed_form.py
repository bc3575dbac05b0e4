"""Closed-form Gaussian divergences and MI against Monte Carlo, quadrature and classical inequalities."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from estimators.closed_form import (
    canonical_correlations,
    gaussian_bhattacharyya,
    gaussian_chi2,
    gaussian_hellinger2,
    gaussian_kl,
    gaussian_mi,
    gaussian_mi_from_correlations,
    gaussian_renyi,
    gaussian_tv,
)


def _random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


def _quad(fn, lo=-np.inf, hi=np.inf, points=None):
    if points is not None:
        lo, hi = -60.0, 60.0  # quad takes break points only on a finite range
    return integrate.quad(fn, lo, hi, points=points, limit=400, epsabs=1e-13, epsrel=1e-11)[0]


def test_kl_matches_monte_carlo():
    rng = np.random.default_rng(0)
    d, n = 3, 200_000
    m1, m2 = rng.standard_normal(d), rng.standard_normal(d)
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    p, q = stats.multivariate_normal(m1, s1), stats.multivariate_normal(m2, s2)
    z = p.rvs(n, random_state=1)
    terms = p.logpdf(z) - q.logpdf(z)
    se = terms.std() / math.sqrt(n)
    # tolerance: 5 Monte-Carlo standard errors of the mean log-ratio
    assert abs(gaussian_kl(m1, s1, m2, s2) - terms.mean()) < 5 * se


ONE_D = [(0.0, 1.0, 1.0, 1.0), (0.3, 0.7, -0.5, 1.2), (1.0, 2.0, 0.0, 1.5), (-0.2, 1.0, 0.4, 0.8)]


def _pdfs(m1, s1, m2, s2):
    return stats.norm(m1, s1).pdf, stats.norm(m2, s2).pdf


def _logpdfs(m1, s1, m2, s2):
    return stats.norm(m1, s1).logpdf, stats.norm(m2, s2).logpdf


@pytest.mark.parametrize("m1,s1,m2,s2", ONE_D)
@pytest.mark.parametrize("alpha", [0.3, 0.5, 2.0])
def test_renyi_matches_quadrature(m1, s1, m2, s2, alpha):
    lp, lq = _logpdfs(m1, s1, m2, s2)
    exact = gaussian_renyi([m1], [[s1**2]], [m2], [[s2**2]], alpha)
    if math.isinf(exact):
        assert alpha * s2**2 + (1 - alpha) * s1**2 <= 0
        return
    numeric = math.log(_quad(lambda t: math.exp(alpha * lp(t) + (1 - alpha) * lq(t)))) / (alpha - 1)
    assert exact == pytest.approx(numeric, rel=1e-7, abs=1e-9)  # quadrature error only


@pytest.mark.parametrize("m1,s1,m2,s2", ONE_D)
def test_chi2_hellinger_tv_match_quadrature(m1, s1, m2, s2):
    p, q = _pdfs(m1, s1, m2, s2)
    lp, lq = _logpdfs(m1, s1, m2, s2)
    args = ([m1], [[s1**2]], [m2], [[s2**2]])
    chi2 = gaussian_chi2(*args)
    if 2 * s2**2 - s1**2 > 0:
        assert chi2 == pytest.approx(_quad(lambda t: math.exp(2 * lp(t) - lq(t))) - 1, rel=1e-7)
    else:
        assert math.isinf(chi2)
    assert gaussian_hellinger2(*args) == pytest.approx(_quad(lambda t: (math.sqrt(p(t)) - math.sqrt(q(t))) ** 2), rel=1e-7)
    assert gaussian_tv(*args) == pytest.approx(0.5 * _quad(lambda t: abs(p(t) - q(t)), points=[-3, 0, 3]), rel=1e-6)
    assert gaussian_kl(*args) == pytest.approx(_quad(lambda t: p(t) * ((lp(t) - lq(t)))), rel=1e-7)


def test_chi2_infinite_when_2s2_minus_s1_not_pd():
    assert math.isinf(gaussian_chi2([0.0], [[3.0]], [0.0], [[1.0]]))
    assert math.isinf(gaussian_chi2(np.zeros(2), np.diag([1.0, 2.5]), np.zeros(2), np.eye(2)))


def test_renyi_consistency():
    rng = np.random.default_rng(3)
    m1, m2, s1, s2 = rng.standard_normal(2), rng.standard_normal(2), _random_cov(rng, 2), _random_cov(rng, 2)
    # D_(1/2) = -2 log BC, and D_alpha -> KL as alpha -> 1
    assert gaussian_renyi(m1, s1, m2, s2, 0.5) == pytest.approx(-2 * math.log(gaussian_bhattacharyya(m1, s1, m2, s2)))
    assert gaussian_renyi(m1, s1, m2, s2, 1 - 1e-6) == pytest.approx(gaussian_kl(m1, s1, m2, s2), rel=1e-4)


def test_tv_equal_covariance_matches_monte_carlo():
    rng = np.random.default_rng(4)
    d, n = 3, 200_000
    m1, m2, s = rng.standard_normal(d), rng.standard_normal(d), _random_cov(rng, d)
    p, q = stats.multivariate_normal(m1, s), stats.multivariate_normal(m2, s)
    z = p.rvs(n, random_state=5)
    terms = np.maximum(0.0, 1.0 - np.exp(q.logpdf(z) - p.logpdf(z)))  # TV = E_P[(1 - q/p)_+]
    assert abs(gaussian_tv(m1, s, m2, s) - terms.mean()) < 5 * terms.std() / math.sqrt(n)  # 5 standard errors


def test_tv_one_d_equal_variance_branches_agree():
    near = gaussian_tv([0.0], [[1.0]], [1.3], [[1.0 + 1e-9]])
    assert near == pytest.approx(gaussian_tv([0.0], [[1.0]], [1.3], [[1.0]]), abs=1e-6)


one_d = st.tuples(
    st.floats(-3, 3), st.floats(0.3, 3.0), st.floats(-3, 3), st.floats(0.3, 3.0)
)


@given(one_d)
def test_divergence_inequalities_one_d(params):
    m1, s1, m2, s2 = params
    args = ([m1], [[s1**2]], [m2], [[s2**2]])
    kl, chi2, tv, h2 = gaussian_kl(*args), gaussian_chi2(*args), gaussian_tv(*args), gaussian_hellinger2(*args)
    eps = 1e-9
    assert kl <= math.log1p(chi2) + eps  # KL = D_1 <= D_2 = log(1 + chi^2)
    assert tv <= math.sqrt(kl / 2) + eps  # Pinsker
    # With H^2 = int (sqrt p - sqrt q)^2 in [0, 2] and TV in [0, 1] (Le Cam 1986; Tsybakov 2009, Lemma 2.3):
    assert h2 / 2 <= tv + eps
    assert tv <= math.sqrt(h2) * math.sqrt(max(1 - h2 / 4, 0.0)) + eps


def test_mi_joint_covariance_equals_canonical_correlations_and_kl():
    rng = np.random.default_rng(6)
    dx, dy = 3, 2
    cov = _random_cov(rng, dx + dy)
    rho = canonical_correlations(cov, dx)
    mi = gaussian_mi(cov, dx)
    assert mi == pytest.approx(gaussian_mi_from_correlations(rho), rel=1e-10)
    product = cov.copy()
    product[:dx, dx:] = 0
    product[dx:, :dx] = 0
    assert mi == pytest.approx(gaussian_kl(np.zeros(5), cov, np.zeros(5), product), rel=1e-10)  # I = KL(P_XY || P_X P_Y)


def test_mi_staircase_value():
    # Poole et al. 2019 staircase: 20 coordinate pairs, I = -10 log(1 - rho^2) -> 2 nats
    rho = math.sqrt(1 - math.exp(-2 / 10))
    assert gaussian_mi_from_correlations([rho] * 20) == pytest.approx(2.0)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: gaussian_kl([0.0], [[-1.0]], [0.0], [[1.0]]), "s1"),
        (lambda: gaussian_kl([0.0, 1.0], np.eye(2), [0.0], [[1.0]]), "m2"),
        (lambda: gaussian_kl([np.nan], [[1.0]], [0.0], [[1.0]]), "m1"),
        (lambda: gaussian_kl([0.0], [[1.0]], [0.0], [[0.0]]), "s2"),
        (lambda: gaussian_mi(np.eye(3), 0), "dim_x"),
        (lambda: gaussian_renyi([0.0], [[1.0]], [0.0], [[1.0]], -1.0), "alpha"),
    ],
)
def test_bad_input_names_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
