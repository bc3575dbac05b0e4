"""Argument checks shared by every module of synthetic: positive reals, sample counts, dimensions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["check_dim", "check_positive", "check_sample_count"]


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
