"""estimators.intervals: the Student-t interval and the in-sample / held-out bracket."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from estimators.intervals import fit_bracket_interval, student_t_interval

values = st.lists(st.floats(-5, 5), min_size=2, max_size=40).map(np.array)


@given(in_sample=st.floats(-3, 3), held_out=st.floats(-3, 3), terms=values)
def test_bracket_spans_both_ends_widened_by_the_sampling_half_width(in_sample: float, held_out: float,
                                                                   terms: np.ndarray) -> None:
    low, high = fit_bracket_interval(in_sample, held_out, terms)
    s_low, s_high = student_t_interval(0.0, terms)
    assert np.isclose(min(in_sample, held_out) - low, -s_low)
    assert np.isclose(high - max(in_sample, held_out), s_high)
    assert low <= min(in_sample, held_out) <= max(in_sample, held_out) <= high


@given(centre=st.floats(-3, 3), terms=values)
def test_bracket_of_equal_ends_is_the_student_t_interval(centre: float, terms: np.ndarray) -> None:
    assert np.allclose(fit_bracket_interval(centre, centre, terms), student_t_interval(centre, terms))
