"""Argument checks shared by the distributed-source-coding references: correlations, noise variances, probabilities."""

from __future__ import annotations

import math

__all__ = ["check_correlation", "check_noise_variance", "check_probability"]


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
