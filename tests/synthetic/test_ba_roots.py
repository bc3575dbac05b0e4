"""synthetic.ba.roots: the ask/tell Brent search evaluates exactly the points scipy's brentq does."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from synthetic.ba.roots import BrentRoot, brent_root


def _scipy_trace(f, a, b, xtol, rtol, maxiter):
    seen: list[float] = []

    def g(x: float) -> float:
        seen.append(x)
        return f(x)

    try:
        root, status = brentq(g, a, b, xtol=xtol, rtol=rtol, maxiter=maxiter), "converged"
    except ValueError:  # f(a), f(b) of one sign (or nan)
        root, status = None, "sign"
    except RuntimeError:  # maxiter reached
        root, status = None, "maxiter"
    return seen, root, status


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(-3, 3), min_size=2, max_size=5),
    st.floats(-5, 0),
    st.floats(0.01, 5),
    st.floats(-15, -3),
    st.floats(-15.6, -5),
    st.integers(0, 40),
    st.booleans(),
)
def test_same_points_and_root_as_scipy_brentq(coefs, a, width, log_xtol, log_rtol, maxiter, wiggle):
    """Bit for bit: the target-D search relies on it to keep its numbers when driven step by step."""

    def f(x: float) -> float:
        return float(np.polyval(coefs, x)) + (0.3 * math.sin(7 * x) if wiggle else 0.0)

    b = a + width
    xtol, rtol = 10.0**log_xtol, max(4 * np.finfo(float).eps, 10.0**log_rtol)
    seen, root, status = _scipy_trace(f, a, b, xtol, rtol, maxiter)
    search = BrentRoot(a, b, xtol=xtol, rtol=rtol, maxiter=maxiter)
    mine: list[float] = []
    while search.status == "running":
        x = search.ask()
        mine.append(x)
        search.tell(f(x))
    assert mine == seen
    assert search.status == status
    if status == "converged":
        assert search.root == root


def test_stopping_early_is_just_not_telling():
    search = BrentRoot(0.0, 3.0, xtol=1e-14, rtol=1e-14)
    asked = 0
    while search.status == "running" and asked < 4:
        search.tell(math.cos(search.ask()))
        asked += 1
    assert search.status == "running" and search.evaluations == 4
    assert brent_root(math.cos, 0.0, 3.0).root == pytest.approx(math.pi / 2, abs=1e-12)


def test_sign_nan_and_bad_arguments():
    assert brent_root(lambda x: x * x + 1.0, -1.0, 1.0).status == "sign"
    assert brent_root(lambda x: math.nan, -1.0, 1.0).status == "nan"
    with pytest.raises(ValueError, match="xtol"):
        BrentRoot(0.0, 1.0, xtol=0.0)
    with pytest.raises(ValueError, match="rtol"):
        BrentRoot(0.0, 1.0, rtol=1e-17)
    stopped = brent_root(math.cos, 0.0, 3.0)
    with pytest.raises(RuntimeError, match="stopped"):
        stopped.ask()
