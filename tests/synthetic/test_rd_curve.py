"""Certified R(D) curves: supporting lines below, time-sharing chords above, shipped tables valid."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthetic import get_source
from synthetic.rd_curve import RDCurve, certify_curve


def exact_gaussian_curve(n: int) -> RDCurve:
    """Tangent lines and points of the exact R(D) = 1/2 log(1/D) of N(0, 1) at n grid points."""
    d = np.geomspace(0.01, 0.9, n)
    r = 0.5 * np.log(1 / d)
    return RDCurve(tuple(d), tuple(1 / (2 * d)), tuple(r), tuple(d), tuple(r), d_max=1.0)


@given(st.floats(0.01, 0.999), st.integers(3, 40))
def test_curve_brackets_convex_rd(D, n):
    lo, up = exact_gaussian_curve(n).bounds(D)
    exact = 0.5 * math.log(1 / D)
    assert lo <= exact + 1e-12 <= up + 2e-12


def test_dense_curve_is_tight():
    # 40 points, ratio 1.12 between neighbours: interpolation error is O((log ratio)^2) / 8 nats
    curve = exact_gaussian_curve(40)
    for D in np.geomspace(0.011, 0.89, 37):
        lo, up = curve.bounds(D)
        assert up - lo < 2e-3


def test_rate_zero_beyond_total_variance():
    assert exact_gaussian_curve(5).bounds(1.5) == (0.0, 0.0)


def test_save_load_round_trip(tmp_path):
    c = exact_gaussian_curve(4)
    c.save(tmp_path / "c.json")
    assert RDCurve.load(tmp_path / "c.json") == c


@pytest.mark.slow
def test_certified_gaussian_curve_brackets_closed_form():
    lp = lambda x: -0.5 * (x**2).sum(1) - 0.5 * math.log(2 * math.pi)  # noqa: E731
    curve = certify_curve(lp, np.geomspace(0.05, 0.8, 6), 1.0, lo=[-10.0], hi=[10.0], progress=False)
    for D in np.geomspace(0.05, 0.8, 11):
        lo, up = curve.bounds(D)
        assert lo <= 0.5 * math.log(1 / D) <= up


@pytest.mark.parametrize("name", ["laplace", "mixture"])
def test_shipped_tables_between_slb_and_gaussian_bound(name):
    src = get_source(name)
    for D in np.geomspace(0.02, 0.95 * src.variance().sum(), 25):
        b = src.rate_distortion(D)
        assert src.shannon_lower_bound(D) - 1e-12 <= b.lower <= b.upper <= src.gaussian_upper_bound(D) + 1e-12
        # the shipped tables are dense enough for 0.003-bit brackets over this range
        assert (b.upper - b.lower) / math.log(2) < 3e-3
