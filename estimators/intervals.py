"""Student-t intervals from replicate values: disjoint-block estimates or per-sample held-out terms."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["student_t_interval"]


def student_t_interval(center: float, values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """``center -+ t sd(values) / sqrt(m)`` from m replicate values, t the Student-t quantile at ``level``.

    The values are treated as independent replicates whose mean is ``center`` (or estimates the
    same quantity): disjoint-block estimates (KSG, test minibatches of a critic) or the per-sample
    terms of a held-out average (DoE). Their standard error of the mean stands in for the standard
    error of ``center``: the interval covers sampling noise, not estimator bias.

    Arguments:
        center: the estimate the interval is centred on.
        values: the m replicates, m >= 2; fewer give ``(nan, nan)``.
        level: two-sided coverage in (0, 1).

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = student_t_interval(1.0, np.array([0.9, 1.0, 1.1]))
        >>> round(high - 1.0, 4)  # t_{0.975, 2} = 4.3027, sd = 0.1
        0.2484
    """
    b = np.asarray(values, dtype=np.float64)
    if b.size < 2:
        return (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + level / 2, b.size - 1) * b.std(ddof=1) / np.sqrt(b.size))
    return (center - half, center + half)
