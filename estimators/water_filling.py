"""Reverse water-filling: R(D) and D(R) of independent Gaussian components (nats, squared error summed).

Cover & Thomas, Elements of Information Theory, 2nd ed., Thm 10.3.3 and eq. 10.54. It lives here,
below :mod:`synthetic` (which re-exports it from :mod:`synthetic.rd`), because the sample-based
bounds of :mod:`estimators.rd` start from it too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["WaterFilling", "reverse_water_filling", "reverse_water_filling_rate"]


@dataclass(frozen=True)
class WaterFilling:
    """Reverse water-filling solution (Cover & Thomas 2nd ed., Thm 10.3.3).

    ``distortions[i] = min(water_level, variances[i])`` and
    ``rates[i] = 1/2 log(variances[i] / distortions[i])``; ``rate`` and ``distortion`` are the sums.
    """

    rate: float
    distortion: float
    water_level: float
    distortions: np.ndarray
    rates: np.ndarray


def _check_variances(variances: ArrayLike, name: str = "variances") -> np.ndarray:
    v = np.atleast_1d(np.asarray(variances, dtype=np.float64))
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def _fill(variances: np.ndarray, theta: float) -> WaterFilling:
    d = np.minimum(theta, variances)
    r = 0.5 * np.log(variances / d)
    return WaterFilling(float(r.sum()), float(d.sum()), float(theta), d, r)


def reverse_water_filling(variances: ArrayLike, D: float) -> WaterFilling:
    """R(D) of independent Gaussians by reverse water-filling on the distortion D (> 0).

    The water level theta solves sum_i min(theta, s2_i) = D (Cover & Thomas eq. 10.54). For
    ``D >= sum(variances)`` the rate is zero and theta = max(variances).

    Example:
        >>> reverse_water_filling([4.0, 1.0], 2.0).water_level
        1.0
    """
    v = _check_variances(variances)
    D = float(D)
    if not (D > 0 and math.isfinite(D)):
        raise ValueError(f"D must be finite and > 0, got {D!r}")
    if D >= v.sum():
        return _fill(v, float(v.max()))
    # sum_i min(theta, s2_i) is piecewise linear in theta: solve it on the sorted variances.
    s = np.sort(v)
    k = len(s)
    below = np.concatenate([[0.0], np.cumsum(s)])  # sum of the i smallest variances
    for i in range(k):
        # theta in [s[i-1], s[i]]: the i smallest components are fully zeroed out
        theta = (D - below[i]) / (k - i)
        lo = s[i - 1] if i > 0 else 0.0
        if lo <= theta <= s[i]:
            return _fill(v, float(theta))
    raise AssertionError("water level not found")  # unreachable: D < sum(v)


def reverse_water_filling_rate(variances: ArrayLike, R: float) -> WaterFilling:
    """D(R) of independent Gaussians: the water level theta with sum_i max(0, 1/2 log(s2_i/theta)) = R."""
    v = _check_variances(variances)
    R = float(R)
    if not np.isfinite(R) or R < 0:
        raise ValueError(f"R must be finite and >= 0, got {R}")
    if R == 0:
        return _fill(v, float(v.max()))
    s = np.sort(v)[::-1]
    k = len(s)
    log_s = np.log(s)
    for j in range(1, k + 1):
        # the j largest components are active: sum_{i<j} 1/2 (log s_i - log theta) = R
        log_theta = (log_s[:j].sum() - 2.0 * R) / j
        hi = log_s[j - 1]
        lo = log_s[j] if j < k else -np.inf
        if lo <= log_theta <= hi:
            return _fill(v, float(np.exp(log_theta)))
    raise AssertionError("water level not found")
