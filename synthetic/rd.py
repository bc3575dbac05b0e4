"""Closed-form rate-distortion functions and bounds (nats, squared error summed over dimensions).

``RDBound`` is the contract type of :mod:`contracts.interface`; ``blahut_arimoto`` is re-exported
from :mod:`synthetic.ba` for the cases with no closed form.
"""

from __future__ import annotations


import numpy as np
from numpy.typing import ArrayLike

from contracts.interface import RDBound
from synthetic.ba import blahut_arimoto
from estimators.water_filling import WaterFilling, reverse_water_filling, reverse_water_filling_rate
from synthetic.checks import check_positive, check_probability

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
]


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
    p = check_probability(p, "p")
    D = float(D)
    if not D >= 0:
        raise ValueError(f"D must be >= 0, got {D}")
    if D >= min(p, 1 - p):
        return 0.0
    return float(binary_entropy(p) - binary_entropy(D))
