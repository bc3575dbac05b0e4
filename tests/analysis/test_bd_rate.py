"""analysis.bd_rate: hand-computable cases (constant rate factor, identical curves, no overlap, errors)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.bd_rate import bd_rate

RATES = [0.1, 0.25, 0.5, 1.0, 2.0]
PSNR = [27.0, 29.5, 32.0, 35.0, 38.5]


@given(factor=st.floats(0.2, 5.0), points=st.integers(2, 5))
def test_constant_rate_factor_gives_exactly_that_percentage(factor, points):
    # log R_test(q) = log R_anchor(q) + log k at every q, so both fits differ by the constant log k
    test = [factor * r for r in RATES[:points]]
    assert bd_rate(RATES[:points], PSNR[:points], test, PSNR[:points]) == pytest.approx(100 * (factor - 1), abs=1e-9)


def test_identical_curves_give_zero_and_order_does_not_matter():
    assert bd_rate(RATES, PSNR, RATES, PSNR) == pytest.approx(0, abs=1e-12)
    assert bd_rate(RATES[::-1], PSNR[::-1], RATES, PSNR) == pytest.approx(0, abs=1e-12)


def test_linear_case_by_hand():
    # anchor: log R = q / 10; test: log R = q / 10 + q / 100 over q in [20, 40] -> mean extra = 0.3
    q = np.array([20.0, 25.0, 30.0, 35.0, 40.0])
    anchor, test = np.exp(q / 10), np.exp(q / 10 + q / 100)
    assert bd_rate(anchor, q, test, q) == pytest.approx(100 * math.expm1(0.3), rel=1e-9)


def test_only_the_overlap_counts():
    q = np.array([20.0, 25.0, 30.0, 35.0])
    shifted = q + 10  # overlap [30, 35]; on it log R_test = log R_anchor - 1
    assert bd_rate(np.exp(q / 10), q, np.exp(shifted / 10 - 1), shifted) == pytest.approx(100 * math.expm1(-1), rel=1e-9)


def test_no_overlap_or_single_point_is_nan():
    assert math.isnan(bd_rate([0.1, 0.2], [20, 22], [0.5, 1.0], [30, 33]))
    assert math.isnan(bd_rate([0.1], [20], [0.5, 1.0], [30, 33]))


@pytest.mark.parametrize("rates", [[0.0, 1.0], [-1.0, 1.0], [math.nan, 1.0]])
def test_bad_rates_are_rejected(rates):
    with pytest.raises(ValueError, match="rates must be finite and > 0"):
        bd_rate(rates, [20, 30], [0.5, 1.0], [20, 30])
