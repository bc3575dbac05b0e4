"""Tests for synthetic.ba: certified Blahut-Arimoto bounds on R(D)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from synthetic.ba import (
    BAConvergenceWarning,
    BAPoint,
    GridSquaredError,
    blahut_arimoto,
    blahut_arimoto_at_distortion,
    certify_rd_continuous,
    grid_source,
    rd_bounds_continuous,
)

TOL_BITS = 1e-4
TOL = TOL_BITS * math.log(2.0)  # nats
SLACK = 1e-12  # floating-point slack on inequalities between computed bounds

HYPO = settings(max_examples=40, deadline=None, derandomize=True)


def binary_entropy(x: float) -> float:
    return -x * math.log(x) - (1 - x) * math.log(1 - x)


@st.composite
def small_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A random source pmf (some masses may be 0) and distortion matrix, from one seed."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 6))
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(n, draw(st.sampled_from([0.3, 1.0, 5.0]))))
    if n > 1 and draw(st.booleans()):
        p[rng.integers(n)] = 0.0
        p /= p.sum()
    kind = draw(st.sampled_from(["uniform", "integer", "exponential"]))
    if kind == "uniform":
        d = rng.uniform(0.0, 3.0, (n, m))
    elif kind == "integer":  # ties and zeros: flat pieces and straight segments of R(D)
        d = rng.integers(0, 3, (n, m)).astype(float)
    else:
        d = rng.exponential(1.0, (n, m))
    return p, d


SLOPES = np.geomspace(0.05, 50.0, 7)


def gaussian_grid(n: int, variance: float = 1.0, half_width: float = 8.0) -> tuple[np.ndarray, GridSquaredError]:
    """Exact cell masses of N(0, variance) on n cells over +-half_width standard deviations."""
    sd = math.sqrt(variance)
    z = np.linspace(-half_width, half_width, n + 1)
    p = np.where(z[1:] <= 0, np.diff(norm.cdf(z)), -np.diff(norm.sf(z)))
    return p / p.sum(), GridSquaredError((n,), (sd * (z[1] - z[0]),))


def reverse_water_filling(variances: np.ndarray, D: float) -> float:
    """R(D) of independent Gaussians (Cover & Thomas 2006, 10.3.3), nats."""
    theta = brentq(lambda t: np.minimum(t, variances).sum() - D, 1e-300, variances.sum())
    return float(0.5 * np.log(variances / np.minimum(theta, variances)).sum())


def gaussian_log_density(variances: np.ndarray):
    v = np.asarray(variances, dtype=float)

    def log_p(x: np.ndarray) -> np.ndarray:
        return -0.5 * (x**2 / v).sum(axis=1) - 0.5 * np.log(2 * np.pi * v).sum()

    return log_p


# ---------------------------------------------------------------------------------------------
# properties of the certified points on random small problems


@HYPO
@given(small_problems())
def test_bounds_are_ordered_and_certified(problem: tuple[np.ndarray, np.ndarray]) -> None:
    p, d = problem
    for pt in blahut_arimoto(p, d, SLOPES, tol_bits=TOL_BITS):
        assert pt.converged
        assert 0.0 - SLACK <= pt.rate_upper
        assert pt.rate_lower <= pt.rate_upper
        assert pt.rate_upper - pt.rate_lower <= TOL
        assert np.isclose(pt.q.sum(), 1.0) and np.all(pt.q >= 0)


@HYPO
@given(small_problems())
def test_distortion_decreases_and_rate_increases_with_slope(problem: tuple[np.ndarray, np.ndarray]) -> None:
    p, d = problem
    pts = blahut_arimoto(p, d, SLOPES, tol_bits=TOL_BITS)
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            a, b = pts[i], pts[j]  # a.slope < b.slope
            # exact optima have D_a >= D_b; certified ones within (gap_a + gap_b) / (lam_b - lam_a),
            # from adding the two dual lines LB_k + lam_k (D_k - D) <= R(D) <= UB at each point
            assert a.distortion - b.distortion >= -(a.gap + b.gap) / (b.slope - a.slope) - SLACK
            # R is non-increasing and a's dual line lies below R: UB_b >= UB_a - gap_a + lam_a (D_a - D_b)
            assert b.rate_upper >= a.rate_upper - a.gap + a.slope * (a.distortion - b.distortion) - SLACK


@HYPO
@given(small_problems())
def test_points_are_consistent_with_a_convex_rd_function(problem: tuple[np.ndarray, np.ndarray]) -> None:
    p, d = problem
    pts = sorted(blahut_arimoto(p, d, SLOPES, tol_bits=TOL_BITS), key=lambda q: q.distortion)
    for a in pts:  # every lower bound is a supporting line of the convex R: below all upper bounds
        for b in pts:
            assert a.rate_lower + a.slope * (a.distortion - b.distortion) <= b.rate_upper + SLACK
    for i in range(len(pts)):  # chords of upper bounds lie above lower bounds in between
        for j in range(i + 1, len(pts)):
            for k in range(j + 1, len(pts)):
                a, b, c = pts[i], pts[j], pts[k]
                if c.distortion - a.distortion <= 1e-12:
                    continue
                th = (c.distortion - b.distortion) / (c.distortion - a.distortion)
                assert b.rate_lower <= th * a.rate_upper + (1 - th) * c.rate_upper + SLACK


@HYPO
@given(small_problems(), st.floats(0.05, 0.95))
def test_target_distortion_is_hit(problem: tuple[np.ndarray, np.ndarray], frac: float) -> None:
    p, d = problem
    d_min, d_max = float(p @ d.min(axis=1)), float((p @ d).min())
    if d_max - d_min < 1e-6:
        return
    target = d_min + frac * (d_max - d_min)
    pt = blahut_arimoto_at_distortion(p, d, target, tol_bits=TOL_BITS)
    assert abs(pt.distortion - target) <= 1e-6 * target
    assert pt.rate_lower <= pt.rate_upper <= pt.rate_lower + TOL


def certify_only(p, d, slope: float, q0: np.ndarray) -> BAPoint:
    """Blahut's bounds at q0 itself (max_iter=0), which need not be near the optimum."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BAConvergenceWarning)
        return blahut_arimoto(p, d, slope, q0=q0, max_iter=0)[0]


@HYPO
@given(small_problems(), st.integers(0, 2**32 - 1), st.sampled_from([0.05, 1.0, 0.0]))
def test_bounds_at_any_q_are_valid(problem: tuple[np.ndarray, np.ndarray], seed: int, sparsity: float) -> None:
    # the bounds hold for every q, not only near the fixed point: the dual line at an arbitrary
    # (nearly sparse, or a point mass: sparsity 0) q must stay below the converged upper bound
    p, d = problem
    rng = np.random.default_rng(seed)
    slope = float(np.exp(rng.uniform(np.log(0.05), np.log(500.0))))
    if sparsity == 0.0:
        q0 = np.zeros(d.shape[1])
        q0[rng.integers(d.shape[1])] = 1.0
    else:
        q0 = rng.dirichlet(np.full(d.shape[1], sparsity))
        q0 = np.maximum(q0, 1e-300) / np.maximum(q0, 1e-300).sum()
    a = certify_only(p, d, slope, q0)
    (b,) = blahut_arimoto(p, d, slope, tol_bits=TOL_BITS)
    assert a.rate_lower <= a.rate_upper
    assert a.rate_lower + slope * (a.distortion - b.distortion) <= b.rate_upper + SLACK
    assert b.rate_lower + slope * (b.distortion - a.distortion) <= a.rate_upper + SLACK


def irregular_grid_sources() -> list:
    """Grid sources that stress the certificates: heavy and light tails, zeros, spikes."""
    rng = np.random.default_rng(11)
    out = []
    for n, h in [(60, 0.05), (97, 0.02), (120, 0.3)]:
        x = np.arange(n) * h
        laplace = np.exp(-np.abs(x - x.mean()) / (3 * h))  # masses down to ~1e-9 .. 1e-17
        spiky = rng.dirichlet(np.full(n, 0.3))
        holes = rng.dirichlet(np.ones(n)) * (rng.random(n) > 0.3)
        mixture = np.exp(-0.5 * ((x - x[n // 4]) / (4 * h)) ** 2) + np.exp(-0.5 * ((x - x[3 * n // 4]) / (9 * h)) ** 2)
        marks = () if n == 60 else (pytest.mark.slow,)  # ~1-4 s each
        for name, w in [("laplace", laplace), ("spiky", spiky), ("holes", holes), ("mixture", mixture)]:
            out.append(pytest.param(w / w.sum(), h, id=f"{name}-{n}", marks=marks))
    return out


@pytest.mark.parametrize(("p", "h"), irregular_grid_sources())
def test_fast_and_dense_certificates_agree_on_irregular_sources(p: np.ndarray, h: float) -> None:
    grid = GridSquaredError((p.size,), (h,))
    x = np.arange(p.size) * h
    variance = float(p @ (x - p @ x) ** 2)
    slopes = 1.0 / (2.0 * np.geomspace(0.9 * variance, h * h / 20, 5))
    fast = blahut_arimoto(p, grid, slopes, tol_bits=TOL_BITS)
    ref = blahut_arimoto(p, grid.dense(), slopes, tol_bits=TOL_BITS)
    for a in fast + ref:
        assert a.converged
    for a in fast:
        for b in ref:
            assert a.rate_lower + a.slope * (a.distortion - b.distortion) <= b.rate_upper + SLACK
            assert b.rate_lower + b.slope * (b.distortion - a.distortion) <= a.rate_upper + SLACK
    # and at extreme q on both paths: nearly sparse, or two point masses, where at steep slopes
    # log Z(x) ~ -1500 for most x (a regression: the dense lower bound once lost the kept terms
    # of its drop search to underflow here and overstated R by ~45 nats)
    rng = np.random.default_rng(5)
    point = np.zeros(p.size)  # zeros are floored at log q = max - 1500 by the solver
    point[[0, p.size // 2]] = 0.5
    for b in ref:
        sparse = rng.dirichlet(np.full(p.size, 0.05))
        for q0 in [np.maximum(sparse, 1e-300) / np.maximum(sparse, 1e-300).sum(), point]:
            for d in (grid, grid.dense()):
                a = certify_only(p, d, b.slope, q0)
                assert a.rate_lower <= a.rate_upper
                assert a.rate_lower + b.slope * (a.distortion - b.distortion) <= b.rate_upper + SLACK


# ---------------------------------------------------------------------------------------------
# sources with known R(D)


@pytest.mark.parametrize("p1", [0.1, 0.3, 0.5])
def test_binary_source_hamming_matches_closed_form(p1: float) -> None:
    p = np.array([1 - p1, p1])
    hamming = 1.0 - np.eye(2)
    # at the optimum D = 1 / (1 + e^lam) (R'(D) = -log((1-D)/D)); keep D < min(p, 1-p)
    d_cap = min(p1, 1 - p1)
    slopes = [math.log((1 - D) / D) for D in np.linspace(0.02, 0.95 * d_cap, 6)]
    for pt in blahut_arimoto(p, hamming, slopes, tol_bits=TOL_BITS):
        exact = binary_entropy(p1) - binary_entropy(pt.distortion)  # Cover & Thomas 2006, Sec. 10.3
        assert pt.rate_lower - SLACK <= exact <= pt.rate_upper + SLACK
        assert pt.distortion == pytest.approx(1 / (1 + math.exp(pt.slope)), rel=1e-2)
    for target in [0.01, 0.5 * d_cap, 0.99 * d_cap]:
        pt = blahut_arimoto_at_distortion(p, hamming, target, tol_bits=TOL_BITS)
        assert abs(pt.distortion - target) <= 1e-6 * target
        exact = binary_entropy(p1) - binary_entropy(pt.distortion)  # the bounds hold at pt's D
        assert pt.rate_lower - SLACK <= exact <= pt.rate_upper + SLACK


def test_target_at_or_beyond_d_max_gives_zero_rate_exactly() -> None:
    p = np.array([0.7, 0.3])
    pt = blahut_arimoto_at_distortion(p, 1.0 - np.eye(2), 0.3)  # D_max = min(p) = 0.3
    assert (pt.rate_lower, pt.rate_upper, pt.slope) == (0.0, 0.0, 0.0)
    assert pt.q[0] == 1.0
    assert blahut_arimoto_at_distortion(p, 1.0 - np.eye(2), 2.0).rate_upper == 0.0


def test_fast_path_equals_dense_path_on_a_gaussian_grid() -> None:
    p, grid = gaussian_grid(256, variance=1.0)
    dense = grid.dense()
    slopes = [0.6, 2.0, 10.0, 80.0]
    fast = blahut_arimoto(p, grid, slopes, tol_bits=TOL_BITS)
    ref = blahut_arimoto(p, dense, slopes, tol_bits=TOL_BITS)
    for f, r in zip(fast, ref):
        assert f.converged and r.converged
        # both certify the same R: each lower bound's dual line stays below the other upper bound
        assert f.rate_lower + f.slope * (f.distortion - r.distortion) <= r.rate_upper + SLACK
        assert r.rate_lower + r.slope * (r.distortion - f.distortion) <= f.rate_upper + SLACK
        assert f.rate_upper == pytest.approx(r.rate_upper, abs=2 * TOL)
    # at one and the same q (max_iter=0 only evaluates the bounds) both see the same channel
    for f in fast:
        (g,) = blahut_arimoto(p, grid, f.slope, q0=f.q, tol_bits=TOL_BITS, max_iter=0)
        (h,) = blahut_arimoto(p, dense, f.slope, q0=f.q, tol_bits=TOL_BITS, max_iter=0)
        assert g.iterations == h.iterations == 0 and g.converged
        assert g.distortion == pytest.approx(h.distortion, rel=1e-9)
        # FFT path: E KL(Q || q) >= I(Q) (dense), the two differing by KL(r || q) <= gap
        assert h.rate_upper - SLACK <= g.rate_upper <= h.rate_upper + TOL


def test_fast_path_equals_dense_path_on_a_2d_grid() -> None:
    rng = np.random.default_rng(3)
    grid = GridSquaredError((7, 9), (0.3, 0.2))
    p = rng.dirichlet(np.ones(grid.size))
    slopes = [0.5, 3.0, 30.0]
    for f, r in zip(blahut_arimoto(p, grid, slopes), blahut_arimoto(p, grid.dense(), slopes)):
        assert f.rate_lower + f.slope * (f.distortion - r.distortion) <= r.rate_upper + SLACK
        assert r.rate_lower + r.slope * (r.distortion - f.distortion) <= f.rate_upper + SLACK


def test_fast_path_gaussian_grid_tracks_half_log_variance_over_d() -> None:
    # the discretised source is not the Gaussian, but on a fine grid its R(D) is within ~1e-6
    p, grid = gaussian_grid(4096, variance=2.0)
    slopes = 1.0 / (2.0 * np.geomspace(1.9, 2e-3, 8))
    for pt in blahut_arimoto(p, grid, slopes, tol_bits=TOL_BITS):
        assert pt.converged
        assert pt.rate_lower - 1e-5 <= 0.5 * math.log(2.0 / pt.distortion) <= pt.rate_upper + 1e-5


def test_target_distortion_on_a_gaussian_grid() -> None:
    p, grid = gaussian_grid(2048, variance=1.0)
    for target in [0.9, 0.3, 0.01]:
        pt = blahut_arimoto_at_distortion(p, grid, target, tol_bits=TOL_BITS)
        assert abs(pt.distortion - target) <= 1e-6 * target
        assert pt.gap <= TOL


# ---------------------------------------------------------------------------------------------
# continuous sources


@pytest.mark.parametrize("D_frac", [0.05, 0.25, 0.5, 0.9])
def test_continuous_gaussian_1d_contains_closed_form(D_frac: float) -> None:
    s2 = 2.0
    D = D_frac * s2
    sd = math.sqrt(s2)
    lower, upper = rd_bounds_continuous(gaussian_log_density(np.array([s2])), D, lo=-8 * sd, hi=8 * sd)
    exact = 0.5 * math.log(s2 / D)
    assert lower <= exact <= upper
    # measured widths: 1.2e-5, 4.6e-5, 1.1e-5, ~5e-5 nats (dominated by tol_bits = 1e-4 bits)
    assert upper - lower < 1e-3


@pytest.mark.parametrize("D", [0.3, 0.6])
def test_continuous_gaussian_2d_contains_reverse_water_filling(D: float) -> None:
    # D = 0.3: both components active (theta = 0.15); D = 0.6: the 0.25 one gets zero rate
    variances = np.array([1.0, 0.25])
    sd = np.sqrt(variances)
    cert = certify_rd_continuous(gaussian_log_density(variances), D, lo=-8 * sd, hi=8 * sd, n=64)
    exact = reverse_water_filling(variances, D)
    assert cert.lower <= exact <= cert.upper
    assert cert.channel_distortion <= D
    # measured widths at n = 64: 5.3e-5 (D = 0.3) and 2.1e-5 nats (D = 0.6)
    assert cert.upper - cert.lower < 1e-3


def gaussian_mixture_log_density(mean: float, sd: float):
    """0.5 N(-mean, sd^2) + 0.5 N(mean, sd^2) in 1-D."""

    def log_p(x: np.ndarray) -> np.ndarray:
        x0 = x[:, 0]
        both = np.stack([-0.5 * ((x0 - mean) / sd) ** 2, -0.5 * ((x0 + mean) / sd) ** 2])
        return np.logaddexp(both[0], both[1]) + math.log(0.5) - math.log(sd * math.sqrt(2 * math.pi))

    return log_p


def differential_entropy_1d(log_p, lo: float, hi: float) -> float:
    xs = np.linspace(lo, hi, 400_001)
    lp = log_p(xs[:, None])
    return float(-(np.exp(lp) * lp).sum() * (xs[1] - xs[0]))


@pytest.mark.parametrize("D", [0.01, 0.1, 0.2])
def test_continuous_mixture_matches_shannon_lower_bound_where_it_is_tight(D: float) -> None:
    # X = 0.5 N(-1.5, 0.25) + 0.5 N(1.5, 0.25) equals Y + N(0, D) for D <= 0.25, so the Shannon
    # lower bound h(X) - 1/2 log(2 pi e D) is R(D) exactly there (Berger 1971, Sec. 4.3)
    log_p = gaussian_mixture_log_density(1.5, 0.5)
    exact = differential_entropy_1d(log_p, -12.0, 12.0) - 0.5 * math.log(2 * math.pi * math.e * D)
    lower, upper = rd_bounds_continuous(log_p, D, lo=-8.0, hi=8.0)
    assert lower <= exact <= upper
    assert upper - lower < 1e-3  # measured 3.6e-6 (D = 0.01), 1.9e-5 (D = 0.1)


@pytest.mark.parametrize("D", [pytest.param(0.5, marks=pytest.mark.slow), 1.5])
def test_continuous_mixture_between_shannon_and_gaussian_bounds(D: float) -> None:
    # beyond D = 0.25 no closed form, but SLB < R(D) < 1/2 log(var / D), var = 2.5
    log_p = gaussian_mixture_log_density(1.5, 0.5)
    h = differential_entropy_1d(log_p, -12.0, 12.0)
    lower, upper = rd_bounds_continuous(log_p, D, lo=-8.0, hi=8.0)
    assert h - 0.5 * math.log(2 * math.pi * math.e * D) <= lower
    assert upper <= 0.5 * math.log(2.5 / D)
    assert upper - lower < 1e-3  # measured 7.0e-5 (D = 0.5), 6.9e-5 (D = 1.5)


@pytest.mark.slow
def test_continuous_laplace_respects_shannon_and_gaussian_bounds() -> None:
    # a kink at 0 (midpoint rule no longer spectral) and an optimal q that grows a spike at 0,
    # which BA approaches slowly: ~5 s per D
    b = 1.0

    def log_p(x: np.ndarray) -> np.ndarray:
        return -np.abs(x[:, 0]) / b - math.log(2 * b)

    for D in [0.1]:
        lower, upper = rd_bounds_continuous(log_p, D, lo=-30.0, hi=30.0, n=2048)
        slb = 1 + math.log(2 * b) - 0.5 * math.log(2 * math.pi * math.e * D)
        assert slb - SLACK <= upper and lower <= 0.5 * math.log(2 * b * b / D)
        assert upper - lower < 1e-3  # measured 1.3e-4


def test_continuous_zero_rate_beyond_the_variance() -> None:
    lower, upper = rd_bounds_continuous(gaussian_log_density(np.array([1.0])), 1.5, lo=-8, hi=8, n=256)
    assert (lower, upper) == (0.0, 0.0)


@pytest.mark.slow
def test_continuous_gaussian_2d_fine_grid() -> None:
    variances = np.array([1.0, 0.25])
    sd = np.sqrt(variances)
    for D in [0.1, 0.3, 0.6]:
        lower, upper = rd_bounds_continuous(gaussian_log_density(variances), D, lo=-8 * sd, hi=8 * sd, n=128)
        assert lower <= reverse_water_filling(variances, D) <= upper
        assert upper - lower < 1e-3


def test_grid_source_masses() -> None:
    lp = gaussian_log_density(np.array([1.0]))
    mid = grid_source(lp, -8, 8, 512)
    gauss = grid_source(lp, -8, 8, 512, rule="gauss", nodes=4)
    edges = np.linspace(-8, 8, 513)
    # cell masses without cancellation in either tail
    exact = np.where(edges[1:] <= 0, np.diff(norm.cdf(edges)), -np.diff(norm.sf(edges)))
    assert mid.box_mass == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(gauss.masses, exact / exact.sum(), rtol=1e-7, atol=0.0)
    assert np.abs(mid.masses - exact / exact.sum()).sum() < 1e-4  # midpoint: O(h^2) in total variation
    assert mid.masses.sum() == pytest.approx(1.0)
    assert mid.points.shape == (512, 1) and mid.distortion.size == 512
    two = grid_source(gaussian_log_density(np.array([1.0, 4.0])), [-8, -16], [8, 16], (32, 16))
    assert two.masses.shape == (512,) and two.spacing == (0.5, 2.0)


# ---------------------------------------------------------------------------------------------
# convergence reporting and bad input


def test_hitting_max_iter_warns_and_reports_unconverged() -> None:
    p, grid = gaussian_grid(512)
    with pytest.warns(BAConvergenceWarning, match="max_iter"):
        (pt,) = blahut_arimoto(p, grid.dense(), 0.6, q0=np.full(512, 1 / 512), max_iter=2, tol_bits=1e-9)
    assert isinstance(pt, BAPoint) and not pt.converged and pt.iterations == 2
    assert pt.rate_lower <= pt.rate_upper


def test_no_warning_when_converged() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blahut_arimoto([0.5, 0.5], 1.0 - np.eye(2), [1.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p": [0.5, -0.1, 0.6]}, "p must"),
        ({"p": [0.5, 0.4, 0.2]}, "p must be a pmf summing to 1"),
        ({"p": [[0.5, 0.5]]}, "p must"),
        ({"p": [np.nan, 1.0]}, "p must"),
        ({"distortion": np.ones((3, 2))}, "distortion must have shape"),
        ({"distortion": -np.ones((2, 2))}, "distortion must be finite and >= 0"),
        ({"slopes": [1.0, 0.0]}, "slopes must"),
        ({"slopes": -1.0}, "slopes must"),
        ({"slopes": []}, "slopes must"),
        ({"tol_bits": 0.0}, "tol_bits must"),
        ({"max_iter": -1}, "max_iter must"),
        ({"q0": [1.0]}, "q0 must"),
        ({"method": "fft"}, "method='fft'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs: dict, name: str) -> None:
    args = {"p": [0.5, 0.5], "distortion": 1.0 - np.eye(2), "slopes": 1.0} | kwargs
    rest = {k: v for k, v in args.items() if k not in ("p", "distortion", "slopes")}
    with pytest.raises(ValueError, match=name):
        blahut_arimoto(args["p"], args["distortion"], args["slopes"], **rest)


def test_target_d_out_of_range_raises() -> None:
    p = np.array([0.5, 0.5])
    d = np.array([[0.1, 1.0], [1.0, 0.2]])  # D_min = 0.15
    for bad in [0.15, 0.0, -1.0, math.nan, math.inf]:
        with pytest.raises(ValueError, match=r"target_D must be .*\(D_min, inf\)"):
            blahut_arimoto_at_distortion(p, d, bad)
    with pytest.raises(ValueError, match="tol_bits"):
        blahut_arimoto_at_distortion(p, d, 0.3, tol_bits=-1.0)


def test_continuous_bad_input_raises() -> None:
    lp = gaussian_log_density(np.array([1.0]))
    with pytest.raises(ValueError, match="D must"):
        rd_bounds_continuous(lp, 0.0, lo=-8, hi=8)
    with pytest.raises(ValueError, match="lo, hi"):
        rd_bounds_continuous(lp, 0.5, lo=8, hi=-8)
    with pytest.raises(ValueError, match="refine"):
        rd_bounds_continuous(lp, 0.5, lo=-8, hi=8, refine=(4, 6))
    with pytest.raises(ValueError, match="normalised"):
        rd_bounds_continuous(lambda x: lp(x) + 1.0, 0.5, lo=-8, hi=8, n=128)
    with pytest.raises(ValueError, match="log_density must map"):
        rd_bounds_continuous(lambda x: np.zeros((x.shape[0], 2)), 0.5, lo=-8, hi=8, n=128)
    with pytest.raises(ValueError, match="shape"):
        GridSquaredError((0,), (1.0,))
