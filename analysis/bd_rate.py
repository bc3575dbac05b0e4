"""Bjøntegaard delta rate: the average rate difference between two rate-quality curves (VCEG-M33, 2001)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["bd_rate"]


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
) -> float:
    r"""Percent rate change of ``test`` against ``anchor`` at equal quality (negative: test needs fewer bits).

    Bjøntegaard (2001, VCEG-M33): fit :math:`\log R` as a cubic polynomial of the quality (PSNR in dB,
    or any quality that grows with rate) for each curve, integrate both fits over the quality interval
    where the curves overlap, and convert the mean difference of log-rates,
    :math:`\Delta = \frac{1}{q_1 - q_0} \int_{q_0}^{q_1} (\log R_t - \log R_a) \, dq`, to
    :math:`100 (e^\Delta - 1)` percent. With fewer than 4 points on a curve the polynomial degree drops
    to (points - 1). A test curve that is the anchor with every rate times :math:`k` gives exactly
    :math:`100 (k - 1)`.

    Returns:
        The BD-rate in percent, or NaN when the curves' quality ranges do not overlap (or a curve has
        fewer than 2 points).

    Raises:
        ValueError: lengths differ or a rate is not finite and > 0.

    Example:
        >>> round(bd_rate([0.2, 0.5, 1.0, 2.0], [28, 31, 34, 38], [0.22, 0.55, 1.1, 2.2], [28, 31, 34, 38]), 6)
        10.0
    """

    curves = []
    for name, rate, quality in (("anchor", rate_anchor, quality_anchor), ("test", rate_test, quality_test)):
        r, q = np.asarray(rate, dtype=np.float64), np.asarray(quality, dtype=np.float64)
        if r.shape != q.shape or r.ndim != 1:
            raise ValueError(f"{name}: rates and qualities must be 1-D of equal length, got {r.shape} and {q.shape}")
        if not np.all(np.isfinite(r) & (r > 0)) or not np.all(np.isfinite(q)):
            raise ValueError(
                f"{name}: rates must be finite and > 0 and qualities finite, got {r.tolist()}, {q.tolist()}"
            )
        curves.append((np.log(r), q))
    if min(len(q) for _, q in curves) < 2:
        return math.nan
    low = max(q.min() for _, q in curves)
    high = min(q.max() for _, q in curves)
    if not high > low:
        return math.nan
    integrals = []
    for log_r, q in curves:
        poly = np.polynomial.Polynomial.fit(q, log_r, deg=min(3, len(q) - 1))
        antiderivative = poly.integ()
        integrals.append(antiderivative(high) - antiderivative(low))
    return float(100 * math.expm1((integrals[1] - integrals[0]) / (high - low)))
