"""Distributed source coding references: Gaussian Wyner-Ziv, the two-terminal sum rate, binary Wyner-Ziv and its BA.

Each closed form is checked against something computed another way: the Gaussian formulas against
Schur complements of the joint covariance, the two-terminal case analysis against a brute-force
search over the Berger-Tung noise variances, the binary Wyner-Ziv curve against the alternating
minimisation and against the existing certified Blahut-Arimoto.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.ba import blahut_arimoto
from synthetic.distributed import (
    berger_tung_gaussian,
    binary_conditional_rd,
    centralized_gaussian_rd,
    conditional_variance,
    gaussian_rd_without_side_information,
    two_terminal_noise_variances,
    two_terminal_regime,
    two_terminal_sum_rate,
    two_terminal_sum_rate_search,
    wyner_ziv_binary_critical_distortion,
    wyner_ziv_binary_g,
    wyner_ziv_binary_rd,
    wyner_ziv_binary_tangent_point,
    wyner_ziv_blahut_arimoto,
    wyner_ziv_gaussian_rd,
    wz_gaussian_estimator_weights,
    wz_gaussian_test_channel,
)

LN2 = math.log(2.0)
rhos = st.floats(-0.95, 0.95)
variances = st.floats(0.01, 100.0)
noises = st.floats(1e-6, 1e6)
targets = st.floats(0.01, 1.2)


def conditional_covariance(cov: np.ndarray, keep: list[int], given_: list[int]) -> np.ndarray:
    """Cov(keep | given) of a Gaussian by the Schur complement (independent of the hand algebra)."""
    a = cov[np.ix_(keep, keep)]
    b = cov[np.ix_(keep, given_)]
    c = cov[np.ix_(given_, given_)]
    return a - b @ np.linalg.solve(c, b.T)


# ---------------------------------------------------------------- Gaussian Wyner-Ziv


@given(noises, variances, rhos)
def test_wz_test_channel_lies_on_the_wyner_ziv_curve(n, s2, rho):
    # every noise variance is an optimal test channel: rate at the distortion it reaches is R_WZ
    rate, D = wz_gaussian_test_channel(n, s2, rho=rho)
    assert math.isclose(rate, wyner_ziv_gaussian_rd(D, s2, rho=rho), rel_tol=1e-9, abs_tol=1e-12)


@given(noises, variances, rhos, st.floats(0.1, 10.0))
def test_wz_test_channel_against_the_joint_covariance(n, s2, rho, s2_y):
    # (X, Y, U) with U = X + W: rate = 1/2 log det ratio, distortion = Var(X | U, Y), weights = regression
    sx, sy = math.sqrt(s2), math.sqrt(s2_y)
    cov = np.array(
        [[s2, rho * sx * sy, s2], [rho * sx * sy, s2_y, rho * sx * sy], [s2, rho * sx * sy, s2 + n]]
    )  # order X, Y, U
    var_u_given_y = conditional_covariance(cov, [2], [1])[0, 0]
    rate_direct = 0.5 * math.log(var_u_given_y / n)  # h(U|Y) - h(U|X,Y)
    distortion_direct = conditional_covariance(cov, [0], [1, 2])[0, 0]
    rate, D = wz_gaussian_test_channel(n, s2, rho=rho)
    assert math.isclose(rate, rate_direct, rel_tol=1e-7, abs_tol=1e-10)
    assert math.isclose(D, distortion_direct, rel_tol=1e-7, abs_tol=1e-12)
    weights_direct = np.linalg.solve(cov[np.ix_([2, 1], [2, 1])], cov[[2, 1], 0])  # E[X | U, Y] = a_u U + a_y Y
    np.testing.assert_allclose(
        wz_gaussian_estimator_weights(n, s2, rho=rho, side_variance=s2_y), weights_direct, rtol=1e-6, atol=1e-9
    )


@given(st.floats(1e-4, 10.0), variances, rhos)
def test_wz_rate_is_conditional_rd_below_the_unconditional(D, s2, rho):
    r_wz = wyner_ziv_gaussian_rd(D, s2, rho=rho)
    c = conditional_variance(s2, rho=rho)
    assert r_wz == pytest.approx(max(0.0, 0.5 * math.log(c / D)), abs=1e-12)
    assert r_wz <= gaussian_rd_without_side_information(D, s2) + 1e-12
    # the gap is exactly -1/2 log(1 - rho^2) while both are positive
    if D < c:
        gap = gaussian_rd_without_side_information(D, s2) - r_wz
        assert gap == pytest.approx(-0.5 * math.log1p(-rho * rho), abs=1e-9)


def test_wz_gaussian_edges():
    assert wz_gaussian_test_channel(math.inf, 2.0, rho=0.5) == (0.0, 1.5)
    assert wz_gaussian_test_channel(0.0, 2.0, rho=0.5) == (math.inf, 0.0)
    assert wz_gaussian_test_channel(1.0, 2.0, rho=1.0) == (0.0, 0.0)
    assert wyner_ziv_gaussian_rd(1e-9, rho=-1.0) == 0.0
    assert wz_gaussian_estimator_weights(math.inf, 1.0, rho=0.5) == (0.0, 0.5)


# ---------------------------------------------------------------- two-terminal, Berger-Tung


@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), rhos)
def test_berger_tung_against_the_joint_covariance(n1, n2, rho):
    cov_x = np.array([[1.0, rho], [rho, 1.0]])
    cov = np.block([[cov_x, cov_x], [cov_x, cov_x + np.diag([n1, n2])]])  # X1, X2, U1, U2
    err = conditional_covariance(cov, [0, 1], [2, 3])
    sum_rate = 0.5 * (np.linalg.slogdet(cov_x)[1] - np.linalg.slogdet(err)[1])  # I(X; U) = h(X) - h(X | U)
    rate_1 = 0.5 * math.log((1 + n1) / n1)
    rate_2 = 0.5 * math.log(conditional_covariance(cov, [3], [2])[0, 0] / n2)  # h(U2 | U1) - h(U2 | X2)
    rate_1_other = 0.5 * math.log(conditional_covariance(cov, [2], [3])[0, 0] / n1)
    pt = berger_tung_gaussian(n1, n2, rho)
    np.testing.assert_allclose(
        pt, [rate_1, rate_2, sum_rate, err[0, 0], err[1, 1]], rtol=1e-7, atol=1e-10
    )
    assert pt.rate_1 + pt.rate_2 == pytest.approx(pt.sum_rate, rel=1e-12, abs=1e-14)
    other = berger_tung_gaussian(n2, n1, rho)  # the other corner: U2 decoded first
    assert other.rate_2 == pytest.approx(rate_1_other, rel=1e-7, abs=1e-10)
    assert other.sum_rate == pytest.approx(pt.sum_rate, rel=1e-12)


@given(st.floats(1e-3, 1e3), rhos)
def test_berger_tung_silent_encoder(n1, rho):
    pt = berger_tung_gaussian(n1, math.inf, rho)
    assert pt.rate_2 == 0.0 and pt.rate_1 == pt.sum_rate
    assert pt.distortion_1 == pytest.approx(n1 / (1 + n1), rel=1e-12)
    assert pt.distortion_2 == pytest.approx(1 - rho * rho / (1 + n1), rel=1e-12)


# The search uses only matrices (slogdet, inv) and bisection, never the case analysis. It agrees
# to about 1e-8 nats: bounded Brent stops within sqrt(eps) ~ 1.5e-8 *relative* to a1 of the
# minimiser, which in the "both" regime sits at a kink (the crossing of the two constraint curves),
# so the rate error is first order in that step; the grid bisection itself is exact to ~1e-20.
# The search can only overshoot (every point it evaluates is feasible), hence the one-sided check.
SEARCH_TOL = 1e-7


@given(targets, targets, rhos)
def test_sum_rate_formula_equals_brute_force_search(D1, D2, rho):
    closed = two_terminal_sum_rate(D1, D2, rho)
    found = two_terminal_sum_rate_search(D1, D2, rho)
    assert found.sum_rate >= closed - 1e-12
    assert found.sum_rate - closed <= SEARCH_TOL
    # and the search's own test channel does meet both constraints
    pt = berger_tung_gaussian(found.noise_1, found.noise_2, rho)
    assert pt.distortion_1 <= D1 * (1 + 1e-9) and pt.distortion_2 <= D2 * (1 + 1e-9)
    assert pt.sum_rate == pytest.approx(found.sum_rate, rel=1e-9, abs=1e-12)


@given(targets, targets, rhos)
def test_optimal_test_channel_reaches_the_targets_at_the_sum_rate(D1, D2, rho):
    n1, n2 = two_terminal_noise_variances(D1, D2, rho)
    regime = two_terminal_regime(D1, D2, rho)
    if regime == "none":
        assert (n1, n2) == (math.inf, math.inf)
        return
    pt = berger_tung_gaussian(n1, n2, rho)
    assert pt.sum_rate == pytest.approx(two_terminal_sum_rate(D1, D2, rho), rel=1e-9, abs=1e-12)
    assert pt.distortion_1 <= D1 * (1 + 1e-9) and pt.distortion_2 <= D2 * (1 + 1e-9)
    if regime in ("both", "first"):
        assert pt.distortion_1 == pytest.approx(min(D1, 1.0), rel=1e-9)
    if regime in ("both", "second"):
        assert pt.distortion_2 == pytest.approx(min(D2, 1.0), rel=1e-9)


@given(targets, targets, st.floats(0.0, 0.5), rhos)
def test_sum_rate_nonincreasing_in_each_distortion(D1, D2, step, rho):
    r = two_terminal_sum_rate(D1, D2, rho)
    assert two_terminal_sum_rate(D1 + step, D2, rho) <= r + 1e-12
    assert two_terminal_sum_rate(D1, D2 + step, rho) <= r + 1e-12


@given(targets, targets, targets, targets, rhos)
def test_sum_rate_convex_along_segments(a1, a2, b1, b2, rho):
    # time sharing makes the whole function convex, not only where both constraints bind
    mid = two_terminal_sum_rate(0.5 * (a1 + b1), 0.5 * (a2 + b2), rho)
    assert mid <= 0.5 * (two_terminal_sum_rate(a1, a2, rho) + two_terminal_sum_rate(b1, b2, rho)) + 1e-12


@given(targets, targets, rhos)
def test_sum_rate_symmetric_and_even_in_rho(D1, D2, rho):
    r = two_terminal_sum_rate(D1, D2, rho)
    assert two_terminal_sum_rate(D2, D1, rho) == pytest.approx(r, rel=1e-12, abs=1e-15)
    assert two_terminal_sum_rate(D1, D2, -rho) == pytest.approx(r, rel=1e-12, abs=1e-15)


@given(targets, targets)
def test_sum_rate_independent_sources(D1, D2):
    expected = gaussian_rd_without_side_information(D1) + gaussian_rd_without_side_information(D2)
    assert two_terminal_sum_rate(D1, D2, 0.0) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert centralized_gaussian_rd(D1, D2, 0.0) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(targets, targets, rhos)
def test_sum_rate_above_the_centralised_bound(D1, D2, rho):
    joint = centralized_gaussian_rd(D1, D2, rho)
    single = max(gaussian_rd_without_side_information(D1), gaussian_rd_without_side_information(D2))
    assert single <= joint + 1e-9
    assert joint <= two_terminal_sum_rate(D1, D2, rho) + 1e-9


@given(targets, targets, rhos)
def test_centralised_bound_where_a_diagonal_error_fits(D1, D2, rho):
    # Hadamard: det S <= S11 S22 <= D1 D2, and S = diag(D1, D2) <= K iff (1 - D1)(1 - D2) >= rho^2
    if D1 >= 1 or D2 >= 1 or (1 - D1) * (1 - D2) < rho * rho:
        return
    expected = 0.5 * math.log((1 - rho * rho) / (D1 * D2))
    assert centralized_gaussian_rd(D1, D2, rho) == pytest.approx(expected, rel=1e-9, abs=1e-11)


def _centralised_by_search(D1: float, D2: float, rho: float, n: int = 1200) -> tuple[float, float]:
    """min 1/2 log(det K / det S) over a grid of (S11, S22) in (0, D_i] (capped at 1), with the S12 that
    maximises det S among those keeping 0 <= S <= K (the t nearest 0 in [rho - w, rho + w], w =
    sqrt((1 - s1)(1 - s2)), and |t| <= sqrt(s1 s2)); returns (rate, tolerance). The grid step h moves
    det S = s1 s2 - t^2 by at most ~3h near the optimum, so log det S by 3 h / det S: the tolerance."""
    d1, d2 = min(D1, 1.0), min(D2, 1.0)
    s1 = np.linspace(d1 / n, d1, n)[:, None]
    s2 = np.linspace(d2 / n, d2, n)[None, :]
    w = np.sqrt((1 - s1) * (1 - s2))
    t = np.clip(0.0, rho - w, rho + w)
    det = np.where(t * t <= s1 * s2, s1 * s2 - t * t, -np.inf)
    best = float(det.max())
    return 0.5 * math.log((1 - rho * rho) / best), 3 * max(d1, d2) / n / best


@given(targets, targets, rhos)
def test_centralised_bound_equals_a_direct_search_over_error_covariances(D1, D2, rho):
    searched, tol = _centralised_by_search(D1, D2, rho)
    closed = centralized_gaussian_rd(D1, D2, rho)
    # the grid holds only feasible S, so its rate can only be higher; the closed form is the optimum
    assert closed <= max(searched, 0.0) + 1e-9
    assert max(searched, 0.0) <= closed + tol


def test_centralised_bound_with_a_free_constraint_is_the_single_source_rate():
    # D1 = 1 at rho = 0.9375: describing X2 at D2 = 1/16 leaves X1 an error 1 - rho^2 (1 - D2) < 1, so
    # only D2 costs rate (an earlier nested search returned 344 nats here)
    assert centralized_gaussian_rd(1.0, 0.0625, 0.9375) == pytest.approx(0.5 * math.log(16), rel=1e-12)


def test_formula_alone_is_wrong_when_a_constraint_is_slack():
    # REFERENCES.md's log+ formula, evaluated where D2 comes for free: below the true answer
    D1, D2, rho = 0.1, 1.1, 0.9
    c = 1 - rho * rho
    beta = 1 + math.sqrt(1 + 4 * rho * rho * D1 * D2 / c**2)
    formula = max(0.0, 0.5 * math.log(c * beta / (2 * D1 * D2)))
    assert two_terminal_regime(D1, D2, rho) == "first"
    assert two_terminal_sum_rate(D1, D2, rho) == pytest.approx(0.5 * math.log(10))
    assert formula < two_terminal_sum_rate(D1, D2, rho) - 0.1
    assert two_terminal_sum_rate_search(D1, D2, rho).sum_rate == pytest.approx(0.5 * math.log(10), abs=SEARCH_TOL)


# ---------------------------------------------------------------- binary Wyner-Ziv

crossovers = st.floats(0.01, 0.49)


@given(crossovers, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_binary_wz_convex_nonincreasing_and_below_g(p, a, b):
    d1, d3 = sorted([a * p, b * p])
    r1, r3 = wyner_ziv_binary_rd(d1, p), wyner_ziv_binary_rd(d3, p)
    assert r1 >= r3 - 1e-15
    assert wyner_ziv_binary_rd(0.5 * (d1 + d3), p) <= 0.5 * (r1 + r3) + 1e-12
    assert r1 <= wyner_ziv_binary_g(d1, p) + 1e-15  # the envelope never exceeds g


@given(crossovers)
def test_binary_wz_tangent_point(p):
    d_c = wyner_ziv_binary_critical_distortion(p)
    assert 0 < d_c < p
    g_c = wyner_ziv_binary_g(d_c, p)
    eps = 1e-7 * d_c
    slope = (wyner_ziv_binary_g(d_c + eps, p) - wyner_ziv_binary_g(d_c - eps, p)) / (2 * eps)  # finite difference
    assert g_c / (d_c - p) == pytest.approx(slope, rel=1e-5)
    # the line to (p, 0) touches g only at d_c: g lies above it on (0, p)
    for D in np.linspace(0, p, 41)[1:-1]:
        assert wyner_ziv_binary_g(D, p) >= g_c * (p - D) / (p - d_c) - 1e-13


@given(crossovers, st.floats(0.001, 0.999))
def test_binary_wz_rate_loss_against_conditional_rd(p, frac):
    D = frac * p
    assert wyner_ziv_binary_rd(D, p) > binary_conditional_rd(D, p)
    assert wyner_ziv_binary_rd(0.0, p) == pytest.approx(binary_conditional_rd(0.0, p), abs=1e-15)  # lossless: H(X|Y)
    # p and 1 - p are the same source with Y flipped (1 - (1 - p) differs from p in the last bit)
    assert wyner_ziv_binary_rd(D, 1 - p) == pytest.approx(wyner_ziv_binary_rd(D, p), rel=1e-12, abs=1e-15)


def test_binary_wz_edges():
    # p = 1/2: Y is useless and R_WZ is the plain binary R(D) = log 2 - h(D)
    assert wyner_ziv_binary_critical_distortion(0.5) == 0.5
    assert wyner_ziv_binary_rd(0.1, 0.5) == pytest.approx(LN2 + 0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    assert wyner_ziv_binary_rd(0.2, 0.0) == 0.0  # p = 0: the decoder already knows X


def dsbs(p: float) -> np.ndarray:
    return 0.5 * np.array([[1 - p, p], [p, 1 - p]])


HAMMING = 1 - np.eye(2)


@settings(max_examples=12)
@given(st.floats(0.05, 0.45), st.floats(0.2, 12.0))
def test_wz_ba_reaches_the_closed_form_at_its_slope(p, slope):
    pt = wyner_ziv_blahut_arimoto(dsbs(p), HAMMING, slope)
    D_star, R_star = wyner_ziv_binary_tangent_point(slope, p)
    best = R_star + slope * D_star
    # achievable, so never below the curve or its Lagrangian; exhaustive over decoders, so on it
    assert pt.rate >= wyner_ziv_binary_rd(min(pt.distortion, 1.0), p) - 1e-9
    assert pt.lagrangian >= best - 1e-9
    assert pt.lagrangian <= best + 1e-3 * LN2
    assert pt.rate - wyner_ziv_binary_rd(min(pt.distortion, 1.0), p) <= 1e-3 * LN2


@settings(max_examples=12)
@given(st.floats(0.02, 0.45), st.floats(0.2, 20.0), st.integers(0, 2**16), st.integers(1, 50))
def test_wz_ba_points_never_below_the_curve(p, slope, seed, max_iter):
    # any encoder and decoder is a code: unconverged and alternating runs too stay on or above R_WZ
    for decoders in ("alternate", "all"):
        pt = wyner_ziv_blahut_arimoto(dsbs(p), HAMMING, slope, decoders=decoders, seed=seed, max_iter=max_iter)
        assert pt.rate >= wyner_ziv_binary_rd(min(pt.distortion, 1.0), p) - 1e-9
        D_star, R_star = wyner_ziv_binary_tangent_point(slope, p)
        assert pt.lagrangian >= R_star + slope * D_star - 1e-9


@settings(max_examples=8)
@given(st.floats(0.3, 6.0), st.lists(st.floats(0.05, 1.0), min_size=3, max_size=3))
def test_wz_ba_without_useful_side_information_is_blahut_arimoto(slope, weights):
    # a constant Y (|Y| = 1): R_WZ = R; compare with the certified (upper and lower) Blahut-Arimoto
    px = np.array(weights) / sum(weights)
    P = px[:, None]
    d = 1 - np.eye(3)
    pt = wyner_ziv_blahut_arimoto(P, d, slope, n_aux=3)
    (ref,) = blahut_arimoto(px, d, [slope], tol_bits=1e-9)
    assert ref.rate_lower + slope * ref.distortion - 1e-9 <= pt.lagrangian
    assert pt.lagrangian <= ref.rate_upper + slope * ref.distortion + 1e-6


@settings(max_examples=12)
@given(st.floats(0.05, 0.45), st.floats(0.5, 16.0))
def test_wz_ba_certified_bracket_holds_the_closed_form(p, slope):
    pt = wyner_ziv_blahut_arimoto(dsbs(p), HAMMING, slope)
    truth = wyner_ziv_binary_rd(min(pt.distortion, 1.0), p)
    # lower <= R_WZ(D) <= upper at the returned D, and the bracket is tight at convergence
    assert pt.rate_lower <= truth + 1e-12 <= pt.rate + 2e-12
    assert pt.converged and pt.rate - pt.rate_lower < 1e-6


def _code_point(P: np.ndarray, q: np.ndarray, f: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(E d, I(X; U | Y)) in nats of the code q(u|x), x_hat = f(u, y), computed from the definitions."""
    joint = P[:, None, :] * q[:, :, None]  # p(x, u, y)
    p_uy = joint.sum(axis=0)
    p_xy = P[:, None, :]
    p_y = P.sum(axis=0)[None, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # I(X; U | Y) = sum p(x,u,y) log p(x,u,y) p(y) / (p(x,y) p(u,y))
        terms = np.where(joint > 0, joint * np.log(joint * p_y / (p_xy * p_uy[None])), 0.0)
    cost = d[np.arange(len(P))[:, None, None], f[None, :, :]]
    return float((joint * cost).sum()), float(terms.sum())


@settings(max_examples=10)
@given(st.integers(0, 2**16), st.floats(0.5, 10.0))
def test_wz_ba_lower_bound_is_below_every_code_on_a_source_without_closed_form(seed, slope):
    # binary X, ternary Y (a crossover and an erasure): no closed form. Every code (D', R'), here random
    # encoders with random decoders, must have R' + s D' >= the certified Lagrangian lower bound L
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(6)).reshape(2, 3)
    P = np.maximum(P, 1e-3)
    P /= P.sum()
    pt = wyner_ziv_blahut_arimoto(P, HAMMING, slope)
    assert pt.rate_lower <= pt.rate + 1e-12
    assert math.isfinite(pt.lagrangian_lower) and pt.lagrangian_lower <= pt.lagrangian + 1e-12
    for _ in range(200):
        n_u = int(rng.integers(1, 5))
        q = rng.dirichlet(0.3 * np.ones(n_u), size=2)
        f = rng.integers(0, 2, size=(n_u, 3))
        D, R = _code_point(P, q, f, HAMMING)
        assert R + slope * D >= pt.lagrangian_lower - 1e-12, (R, D, pt.lagrangian_lower)
    # and the returned code is one of them: its rate recomputed from the definition
    D, R = _code_point(P, pt.encoder, pt.decoder, HAMMING)
    assert D == pytest.approx(pt.distortion, abs=1e-12) and R == pytest.approx(pt.rate, abs=1e-10)


def test_wz_ba_alternate_certifies_nothing():
    assert math.isnan(wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 3.0, decoders="alternate").lagrangian_lower)


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wyner_ziv_gaussian_rd(0.0, rho=0.5), "D must be finite and > 0"),
        (lambda: wyner_ziv_gaussian_rd(0.1, -1.0, rho=0.5), "variance must be finite and > 0"),
        (lambda: wyner_ziv_gaussian_rd(0.1, rho=1.5), r"rho must lie in \[-1, 1\]"),
        (lambda: wz_gaussian_test_channel(-1.0, rho=0.5), r"noise_variance must lie in \[0, inf\]"),
        (lambda: wz_gaussian_estimator_weights(1.0, rho=0.5, side_variance=0.0), "side_variance"),
        (lambda: berger_tung_gaussian(0.0, 1.0, 0.5), r"n1 must lie in \(0, inf\]"),
        (lambda: berger_tung_gaussian(1.0, float("nan"), 0.5), "n2 must lie in"),
        (lambda: berger_tung_gaussian(1.0, 1.0, 1.0), r"rho must lie in \(-1, 1\)"),
        (lambda: two_terminal_sum_rate(-0.1, 0.5, 0.5), "D1 must be finite and > 0"),
        (lambda: two_terminal_sum_rate(0.1, math.inf, 0.5), "D2 must be finite and > 0"),
        (lambda: two_terminal_sum_rate_search(0.1, 0.1, 0.5, grid_size=2), "grid_size must be an integer >= 3"),
        (lambda: centralized_gaussian_rd(0.1, 0.1, -1.0), "rho must lie in"),
        (lambda: wyner_ziv_binary_rd(0.1, 1.2), r"p must lie in \[0, 1\]"),
        (lambda: wyner_ziv_binary_rd(-0.1, 0.2), r"D must lie in \[0, 1\]"),
        (lambda: wyner_ziv_binary_g(0.3, 0.2), r"D must lie in \[0, min\(p, 1 - p\)\]"),
        (lambda: wyner_ziv_binary_tangent_point(0.0, 0.2), "slope must be finite and > 0"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, -1.0), "slope must be finite and > 0"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1) * 2, HAMMING, 1.0), "p_xy must sum to 1"),
        (lambda: wyner_ziv_blahut_arimoto([[0.5, 0.5], [0, 0]], HAMMING, 1.0), "every x and every y"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), np.ones((3, 2)), 1.0), r"distortion must have shape \(2, m\)"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 1.0, n_aux=0), "n_aux must be an integer >= 1"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 1.0, decoders="some"), "decoders must be"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 1.0, n_aux=30), "more than 4096"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 1.0, restarts=0), "restarts must be"),
        (lambda: wyner_ziv_blahut_arimoto(dsbs(0.1), HAMMING, 1.0, tol=0.0), "tol must be finite and > 0"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
