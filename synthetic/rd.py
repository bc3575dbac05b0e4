"""Closed-form rate-distortion functions and bounds (nats, squared error summed over dimensions).

``RDBound`` is the contract type of :mod:`contracts.interface`; ``blahut_arimoto`` is re-exported
from :mod:`synthetic.ba` for the cases with no closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from contracts.interface import RDBound
from synthetic.ba import blahut_arimoto
from synthetic.checks import check_positive

__all__ = [
    "RDBound",
    "WaterFilling",
    "binary_entropy",
    "binary_rd",
    "blahut_arimoto",
    "gaussian_dr",
    "gaussian_rd",
    "gaussian_upper_bound",
    "reverse_water_filling",
    "reverse_water_filling_rate",
    "shannon_lower_bound",
    "time_sharing_envelope",
]


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
    D = check_positive(D, "D")
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


def gaussian_rd(variances: ArrayLike, D: float) -> float:
    """R(D) in nats of a Gaussian with the given (eigen)variances, squared error summed over dimensions."""
    return reverse_water_filling(variances, D).rate


def gaussian_dr(variances: ArrayLike, R: float) -> float:
    """D(R) of a Gaussian with the given (eigen)variances; the inverse of :func:`gaussian_rd`."""
    return reverse_water_filling_rate(variances, R).distortion


def shannon_lower_bound(entropy: float, dim: int, D: float) -> float:
    """Shannon lower bound R(D) >= h(X) - n/2 log(2 pi e D / n), clipped at 0 (Berger 1971, sec. 4.3).

    ``entropy`` is the differential entropy h(X) in nats of the ``dim``-dimensional source.
    """
    D = check_positive(D, "D")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    return max(0.0, float(entropy) - 0.5 * dim * np.log(2 * np.pi * np.e * D / dim))


def gaussian_upper_bound(covariance: ArrayLike, D: float) -> float:
    """R(D) <= R_Gaussian(D) for any source with this covariance (Berger 1971, Thm 4.6.2 analogue).

    ``covariance`` is a (d, d) matrix or a vector of variances; water-filling runs on its eigenvalues.
    """
    c = np.asarray(covariance, dtype=np.float64)
    eig = np.linalg.eigvalsh(c) if c.ndim == 2 else c
    return gaussian_rd(np.clip(eig, 1e-300, None), D)


def binary_entropy(p: ArrayLike) -> np.ndarray | float:
    """h(p) = -p log p - (1-p) log(1-p) in nats, with h(0) = h(1) = 0."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0) - np.where(p < 1, (1 - p) * np.log1p(-p), 0.0)
    return float(h) if h.ndim == 0 else h


def binary_rd(p: float, D: float) -> float:
    """Bernoulli(p) source under Hamming distortion: R(D) = h(p) - h(D) for D < min(p, 1-p), else 0
    (Cover & Thomas Thm 10.3.1)."""
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    D = float(D)
    if not D >= 0:
        raise ValueError(f"D must be >= 0, got {D}")
    if D >= min(p, 1 - p):
        return 0.0
    return float(binary_entropy(p) - binary_entropy(D))


def time_sharing_envelope(Ds: np.ndarray, Rs: np.ndarray, D: float) -> tuple[float, tuple[int, ...]]:
    """The non-increasing lower convex envelope of achievable points (Ds, Rs) at D, and the points used.

    It is the least of R_k over points with D_k <= D (R(D) is non-increasing) and of the chords
    between pairs D_a <= D <= D_b (time-sharing; R(D) is convex): an upper bound on R(D) wherever
    every point is achievable (Cover & Thomas 2nd ed., Lemma 10.4.1).

    Example:
        >>> time_sharing_envelope(np.array([1.0, 3.0]), np.array([2.0, 0.0]), 2.0)
        (1.0, (0, 1))
        >>> time_sharing_envelope(np.array([1.0, 3.0]), np.array([2.0, 0.0]), 0.5)  # below every point
        (inf, ())
    """
    best, used = np.inf, ()
    left = np.flatnonzero(Ds <= D)
    for k in left:
        if Rs[k] < best:
            best, used = float(Rs[k]), (int(k),)
    right = np.flatnonzero(Ds > D)
    for a in left:
        for b in right:
            t = (Ds[b] - D) / (Ds[b] - Ds[a])
            value = float(t * Rs[a] + (1 - t) * Rs[b])
            if value < best:
                best, used = value, (int(a), int(b))
    return best, used
