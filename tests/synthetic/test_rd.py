"""Closed-form R(D): water-filling, monotonicity and convexity, sympy derivations, bad input."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from synthetic import rd, symbolic
from synthetic.rd import (
    binary_rd,
    gaussian_dr,
    gaussian_rd,
    reverse_water_filling,
    reverse_water_filling_rate,
    shannon_lower_bound,
)

variances = st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=8).map(np.array)
fractions = st.floats(1e-4, 0.9999)


@given(variances, fractions, fractions)
def test_rd_nonincreasing_and_convex(v, a, b):
    total = v.sum()
    d1, d3 = sorted([a * total, b * total])
    if d3 - d1 < 1e-9 * total:
        return
    d2 = 0.5 * (d1 + d3)
    r1, r2, r3 = (gaussian_rd(v, d) for d in (d1, d2, d3))
    assert r1 >= r3 - 1e-12
    # convexity: the midpoint lies on or below the chord
    assert r2 <= 0.5 * (r1 + r3) + 1e-10


@given(variances, fractions)
def test_water_filling_distortions_sum_to_D(v, a):
    D = a * v.sum()
    wf = reverse_water_filling(v, D)
    assert math.isclose(wf.distortions.sum(), D, rel_tol=1e-10)
    assert np.all(wf.distortions <= v + 1e-15)
    # components under the water level get no rate, the others share the same distortion theta
    under = v <= wf.water_level
    assert np.all(wf.rates[under] == 0)
    np.testing.assert_allclose(wf.distortions[~under], wf.water_level, rtol=1e-12)
    assert math.isclose(wf.rate, wf.rates.sum(), rel_tol=1e-12, abs_tol=1e-15)


@given(variances, st.floats(1.0, 10.0))
def test_rate_zero_at_total_variance(v, factor):
    assert gaussian_rd(v, v.sum() * factor) == 0.0


@given(variances, st.floats(0.0, 20.0))
def test_D_of_R_inverts_R_of_D(v, R):
    D = gaussian_dr(v, R)
    assert math.isclose(gaussian_rd(v, D), R, rel_tol=1e-9, abs_tol=1e-12)
    wf = reverse_water_filling_rate(v, R)
    assert math.isclose(wf.rate, R, rel_tol=1e-9, abs_tol=1e-12)


@given(st.floats(1e-3, 1e3), st.floats(1e-4, 0.9999))
def test_scalar_matches_sympy(s2, a):
    D = a * s2
    f = sp.lambdify((symbolic.s2, symbolic.D), symbolic.gaussian_rd_expr())
    assert math.isclose(gaussian_rd([s2], D), f(s2, D), rel_tol=1e-12, abs_tol=1e-14)
    # the Shannon lower bound is tight for the Gaussian
    h = 0.5 * math.log(2 * math.pi * math.e * s2)
    assert math.isclose(shannon_lower_bound(h, 1, D), f(s2, D), rel_tol=1e-10, abs_tol=1e-12)


def test_sympy_slope_relation():
    # optimum of D + beta R(D): D = beta/2 and dR/dD = -1/beta (asserted inside the derivation)
    assert sp.simplify(symbolic.optimal_distortion_expr() - symbolic.beta / 2) == 0


@given(variances, st.floats(0.01, 10.0))
def test_water_level_is_half_beta(v, beta):
    # REFERENCES.md: with the Lagrangian D + beta R the water level is theta = beta/2. Check it by
    # minimising D + beta R(D) numerically on a fine grid of D.
    grid = np.linspace(1e-4, 1.0, 4001) * v.sum()
    obj = [d + beta * gaussian_rd(v, d) for d in grid]
    d_best = grid[int(np.argmin(obj))]
    d_theory = np.minimum(beta / 2, v).sum()
    assert abs(d_best - d_theory) <= 2 * (grid[1] - grid[0])


@given(st.floats(0.01, 0.99), st.floats(0.0, 0.5))
def test_binary_rd(p, D):
    r = binary_rd(p, D)
    if D >= min(p, 1 - p):
        assert r == 0
    else:
        assert math.isclose(r, rd.binary_entropy(p) - rd.binary_entropy(D), rel_tol=1e-12)
        assert r > 0


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: gaussian_rd([1.0, -1.0], 0.5), "variances"),
        (lambda: gaussian_rd([1.0, 0.0], 0.5), "variances"),
        (lambda: gaussian_rd([1.0], 0.0), "D"),
        (lambda: gaussian_rd([1.0], -1.0), "D"),
        (lambda: gaussian_rd([[1.0]], 1.0), "variances"),
        (lambda: gaussian_dr([1.0], -0.1), "R"),
        (lambda: binary_rd(1.5, 0.1), "p"),
        (lambda: shannon_lower_bound(1.0, 0, 0.1), "dim"),
    ],
)
def test_bad_input_names_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
