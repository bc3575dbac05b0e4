"""Argument checks shared by every module of synthetic: positive reals, sample counts, dimensions,
correlations, noise variances, probabilities."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "check_correlation", "check_dim", "check_noise_variance", "check_positive", "check_probability", "check_sample_count",
]


def check_positive(value: float, name: str) -> float:
    """``value`` as a float, refusing anything not finite and > 0.

    Example:
        >>> check_positive(2, "D")
        2.0
        >>> check_positive(-1.0, "D")
        Traceback (most recent call last):
        ...
        ValueError: D must be finite and > 0, got -1.0
    """
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def check_sample_count(n: Any) -> int:
    """``n`` as an int, refusing anything but a positive integer (bools included)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


def check_dim(dim: Any, name: str = "dim") -> int:
    """``dim`` as an int, refusing anything but an integer >= 1."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {dim!r}")
    return int(dim)


def check_correlation(rho: float, name: str = "rho", *, closed: bool = False) -> float:
    """``rho`` as a float in (-1, 1), or in [-1, 1] when ``closed``.

    Example:
        >>> check_correlation(0.5)
        0.5
        >>> check_correlation(1.0)
        Traceback (most recent call last):
        ...
        ValueError: rho must lie in (-1, 1), got 1.0
    """
    v = float(rho)
    ok = -1.0 <= v <= 1.0 if closed else -1.0 < v < 1.0
    if not ok:
        interval = "[-1, 1]" if closed else "(-1, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {rho!r}")
    return v


def check_noise_variance(n: float, name: str, *, allow_zero: bool = False) -> float:
    """A test-channel noise variance as a float in (0, inf] (``inf``: the encoder sends nothing), or [0, inf].

    Example:
        >>> check_noise_variance(float("inf"), "n1")
        inf
        >>> check_noise_variance(0.0, "n1")
        Traceback (most recent call last):
        ...
        ValueError: n1 must lie in (0, inf], got 0.0
    """
    v = float(n)
    ok = (v >= 0.0 if allow_zero else v > 0.0) and not math.isnan(v)
    if not ok:
        interval = "[0, inf]" if allow_zero else "(0, inf]"
        raise ValueError(f"{name} must lie in {interval}, got {n!r}")
    return v


def check_probability(p: float, name: str) -> float:
    """``p`` as a float in [0, 1].

    Example:
        >>> check_probability(0.25, "p")
        0.25
        >>> check_probability(1.5, "p")
        Traceback (most recent call last):
        ...
        ValueError: p must lie in [0, 1], got 1.5
    """
    v = float(p)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {p!r}")
    return v
