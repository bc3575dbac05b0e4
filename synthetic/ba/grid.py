"""Continuous densities discretised on the cells of a uniform grid over a box (the input of the FFT path)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from synthetic.ba.operators import Array, GridSquaredError

__all__ = ["GridSource", "LogDensity", "check_box", "grid_source", "log_density_on", "mesh"]

LogDensity = Callable[[Array], ArrayLike]
"""A vectorised log density: float64 array (k, d) -> (k,), in nats."""


@dataclass(frozen=True, eq=False)
class GridSource:
    """A density discretised on the cells of a uniform grid over a box (C order over cells).

    Arguments:
        lo, hi: the box, per dimension.
        shape: cells per dimension.
        masses: cell masses, normalised to a pmf, shape (prod(shape),).
        box_mass: the quadrature estimate of the mass inside the box before normalising.
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    shape: tuple[int, ...]
    masses: Array = field(repr=False)
    box_mass: float

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell width per dimension."""
        return tuple((b - a) / n for a, b, n in zip(self.lo, self.hi, self.shape))

    @property
    def axes(self) -> tuple[Array, ...]:
        """Cell centres per dimension."""
        return tuple(a + (np.arange(n) + 0.5) * h for a, n, h in zip(self.lo, self.shape, self.spacing))

    @property
    def points(self) -> Array:
        """Cell centres, shape (prod(shape), dims)."""
        return mesh(self.axes)

    @property
    def distortion(self) -> GridSquaredError:
        """Squared error between cell centres (the FFT path's structured distortion)."""
        return GridSquaredError(self.shape, self.spacing)


def mesh(axes: Sequence[Array]) -> Array:
    """Every point of the product of ``axes`` (C order), shape (prod of sizes, len(axes))."""
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def check_box(
    lo: float | Sequence[float], hi: float | Sequence[float], n: int | Sequence[int] | None
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...]]:
    """The box (lo, hi) and cells per dimension n as tuples, checked; n defaults by dimension."""
    lo_t = tuple(float(x) for x in np.atleast_1d(np.asarray(lo, dtype=np.float64)))
    hi_t = tuple(float(x) for x in np.atleast_1d(np.asarray(hi, dtype=np.float64)))
    if len(lo_t) != len(hi_t) or len(lo_t) == 0:
        raise ValueError(f"lo and hi must have one entry per dimension, got {len(lo_t)} and {len(hi_t)}")
    if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(lo_t, hi_t)):
        raise ValueError(f"lo, hi must be finite with lo < hi in every dimension, got lo={lo_t}, hi={hi_t}")
    dims = len(lo_t)
    if n is None:
        n = {1: 2048, 2: 128}.get(dims, 24)
    n_t = tuple(int(x) for x in np.atleast_1d(np.asarray(n)))
    if len(n_t) == 1 and dims > 1:
        n_t = n_t * dims
    if len(n_t) != dims or any(x < 2 for x in n_t):
        raise ValueError(f"n must be an int >= 2 or one such int per dimension ({dims}), got {n!r}")
    return lo_t, hi_t, n_t


def log_density_on(log_density: LogDensity, pts: Array) -> Array:
    """``log_density`` at ``pts`` as a flat float64 array, refusing wrong shapes, nan and +inf."""
    out = np.asarray(log_density(pts), dtype=np.float64).reshape(-1)
    if out.shape != (pts.shape[0],):
        raise ValueError(f"log_density must map an array of shape (k, d) to shape (k,), got {out.shape}")
    if np.any(np.isnan(out)) or np.any(out == np.inf):
        raise ValueError("log_density returned nan or +inf")
    return out


def grid_source(
    log_density: LogDensity,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    *,
    rule: Literal["midpoint", "gauss"] = "midpoint",
    nodes: int = 3,
) -> GridSource:
    """Discretise a density on the cells of a uniform grid over the box [lo, hi].

    ``rule="midpoint"`` takes mass ``p(centre) * cell volume``; ``rule="gauss"`` integrates each
    cell with a ``nodes``-point Gauss-Legendre product rule (close to the exact cell masses).
    The masses are normalised to a pmf; ``box_mass`` keeps the un-normalised total.

    Arguments:
        log_density: vectorised log p, array (k, d) -> (k,); p should integrate to 1.
        lo, hi: the box (a float in 1-D or one value per dimension).
        n: cells per dimension (int or one per dimension); default 2048 (1-D), 128 (2-D).
        rule: "midpoint" or "gauss".
        nodes: Gauss-Legendre nodes per dimension and cell for ``rule="gauss"``.

    Returns:
        A :class:`GridSource`; feed ``.masses`` and ``.distortion`` to :func:`blahut_arimoto`.

    Example:
        >>> src = grid_source(lambda x: -0.5 * (x**2).sum(1) - 0.5 * np.log(2 * np.pi), -8, 8, 256)
        >>> bool(abs(src.box_mass - 1) < 1e-12)
        True
    """
    lo_t, hi_t, n_t = check_box(lo, hi, n)
    src_axes = tuple(a + (np.arange(k) + 0.5) * (b - a) / k for a, b, k in zip(lo_t, hi_t, n_t))
    vol = float(np.prod([(b - a) / k for a, b, k in zip(lo_t, hi_t, n_t)]))
    if rule == "midpoint":
        logm = log_density_on(log_density, mesh(src_axes)) + math.log(vol)
    elif rule == "gauss":
        if int(nodes) != nodes or nodes < 1:
            raise ValueError(f"nodes must be an int >= 1, got {nodes!r}")
        t, wt = np.polynomial.legendre.leggauss(int(nodes))
        acc = np.full(int(np.prod(n_t)), -np.inf)
        offs = np.meshgrid(*[np.arange(int(nodes))] * len(n_t), indexing="ij")
        for combo in zip(*[o.ravel() for o in offs]):
            shifted = [ax + 0.5 * t[c] * (b - a) / k for ax, c, a, b, k in zip(src_axes, combo, lo_t, hi_t, n_t)]
            logw = sum(math.log(0.5 * wt[c]) for c in combo)
            acc = np.logaddexp(acc, log_density_on(log_density, mesh(shifted)) + logw)
        logm = acc + math.log(vol)
    else:
        raise ValueError(f"rule must be 'midpoint' or 'gauss', got {rule!r}")
    log_total = float(logsumexp(logm))
    if not math.isfinite(log_total):
        raise ValueError("log_density is -inf on every grid cell of the box")
    masses = np.exp(logm - log_total)
    masses.setflags(write=False)
    return GridSource(lo_t, hi_t, n_t, masses, math.exp(log_total))
