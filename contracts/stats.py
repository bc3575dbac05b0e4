"""Normal-theory intervals shared by every report: one definition of the 95 % quantile."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

__all__ = ["Z_95", "normal_quantile", "mean_se", "normal_interval"]

Z_95 = 1.959963984540054
"""Two-sided 95 % quantile of the standard normal, Phi^-1(0.975)."""


def normal_quantile(level: float = 0.95) -> float:
    """Two-sided quantile z with P(|N(0, 1)| <= z) = ``level``.

    Example:
        >>> round(normal_quantile(0.95), 12) == round(Z_95, 12)
        True
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Sample mean and its standard error sd / sqrt(n) (sd with n - 1).

    Example:
        >>> mean_se([1.0, 2.0, 3.0])
        (2.0, 0.5773502691896257)
    """
    n = len(values)
    if n < 2:
        raise ValueError(f"need at least 2 values for a standard error, got {n}")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def normal_interval(center: float, se: float, level: float = 0.95) -> tuple[float, float]:
    """``center -+ z se``, the normal-theory interval at ``level``.

    Example:
        >>> normal_interval(1.0, 0.0)
        (1.0, 1.0)
    """
    z = Z_95 if level == 0.95 else normal_quantile(level)
    return (center - z * se, center + z * se)
