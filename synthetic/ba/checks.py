"""Argument checks of the Blahut-Arimoto solvers: pmfs, distortions, slopes, budgets, method names."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from synthetic.ba.operators import Array, GridSquaredError
from synthetic.checks import check_positive

__all__ = ["Method", "check_distortion", "check_max_iter", "check_pmf", "check_positive", "check_slopes", "resolve_method"]

Method = Literal["auto", "dense", "fft"]


def check_pmf(p: ArrayLike, name: str, size: int | None = None) -> Array:
    """``p`` as a float64 pmf (renormalised), refusing shapes, negatives and sums off 1 by > 1e-9."""
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D pmf, got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be a pmf: entries finite and >= 0")
    total = float(arr.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must be a pmf summing to 1 within 1e-9, got sum {total!r}")
    return arr / total


def check_distortion(distortion: ArrayLike | GridSquaredError, n: int) -> Array | GridSquaredError:
    """A finite, nonnegative (n, m) matrix, or a GridSquaredError of n points."""
    if isinstance(distortion, GridSquaredError):
        if distortion.size != n:
            raise ValueError(f"distortion grid has {distortion.size} points but p has {n}")
        return distortion
    d = np.asarray(distortion, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != n or d.shape[1] < 1:
        raise ValueError(f"distortion must have shape ({n}, m) with m >= 1, got {d.shape}")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("distortion must be finite and >= 0 everywhere")
    return d


def check_slopes(slopes: float | ArrayLike) -> Array:
    """Slopes lam as a non-empty 1-D array of finite values > 0."""
    lam = np.atleast_1d(np.asarray(slopes, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"slopes must be a float or a non-empty 1-D array, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("slopes must be finite and > 0 (lam in (0, inf))")
    return lam


def resolve_method(method: str, distortion: Array | GridSquaredError) -> str:
    """"dense" or "fft" for a method name ("auto" picks FFT exactly when the distortion is a grid)."""
    if method not in ("auto", "dense", "fft"):
        raise ValueError(f"method must be 'auto', 'dense' or 'fft', got {method!r}")
    if method == "fft" and not isinstance(distortion, GridSquaredError):
        raise ValueError("method='fft' needs distortion given as a GridSquaredError")
    if method == "auto":
        return "fft" if isinstance(distortion, GridSquaredError) else "dense"
    return method


def check_max_iter(max_iter: int) -> int:
    """An update budget: an int >= 0 (0 certifies the start without iterating)."""
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}")
    return int(max_iter)
