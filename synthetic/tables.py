"""Certified R(D) tables of tabulated sources: built from a source's public box and log-density, shipped or cached.

A table is an :class:`~synthetic.rd_curve.RDCurve`: Blahut-Arimoto certificates at a grid of D
(:func:`synthetic.ba.certify_rd_continuous`). :func:`certified_curve` builds one for any
:class:`contracts.TabulatedSource`; :func:`load_curve` reads a shipped table (``synthetic/data``)
or a cached one (``$IBFLOW_CACHE``, default ``~/.cache/ibflow``) before building. This module
knows no source class: the sources call it, never the other way round.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from contracts.interface import TabulatedSource
from synthetic.rd_curve import RDCurve, certify_curve, refine_curve

__all__ = ["DATA", "N_POINTS", "cache_path", "certified_curve", "default_jobs", "distortion_grid", "load_curve", "with_midpoints"]

DATA = Path(__file__).resolve().parent / "data"
"""Where the shipped tables live (``python -m synthetic.make_tables`` rebuilds them)."""

N_POINTS = 40


def distortion_grid(d_max: float, n: int = N_POINTS) -> np.ndarray:
    """``n`` log-spaced D from d_max / 400 to 0.98 d_max (ratio ~1.16 between neighbours at n = 40).

    Example:
        >>> g = distortion_grid(2.0); len(g), float(g[0]), float(g[-1])
        (40, 0.005, 1.96)
    """
    return np.geomspace(d_max / 400, 0.98 * d_max, n)


def with_midpoints(grid: Sequence[float] | np.ndarray, start: float) -> np.ndarray:
    """``grid`` (increasing) with the geometric midpoint of every neighbouring pair from ``start`` on:
    halves the log-spacing where a table's brackets between certificates matter most.

    Example:
        >>> with_midpoints([1.0, 4.0, 16.0], start=4.0).tolist()
        [1.0, 4.0, 8.0, 16.0]
    """
    g = np.asarray(grid, dtype=np.float64)
    mids = np.sqrt(g[:-1] * g[1:])[g[:-1] >= start]
    return np.sort(np.concatenate([g, mids]))


def default_jobs() -> int:
    """Processes for building a 2-D table: the cores, at most 4 (each certificate is independent)."""
    return max(1, min(4, os.cpu_count() or 1))


def certified_curve(
    source: TabulatedSource,
    d_max: float,
    *,
    tail: float,
    d_grid: Sequence[float] | np.ndarray | None = None,
    n: int | Sequence[int] | None = None,
    tol_bits: float = 1e-4,
    retry_bits: float | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> RDCurve:
    """A certified R(D) table of ``source`` on its box ``source.support_box(tail)``.

    In 1-D: 40 points refined to 2e-3 bit brackets (about a minute). In 2-D, where one certificate
    takes 10-40 s: 12 points (or ``d_grid``) and no refinement (a few minutes; brackets of a few
    hundredths of a bit between the points). Higher dimensions are beyond grid Blahut-Arimoto.

    Arguments:
        source: a source with ``support_box`` and ``log_density_np``.
        d_max: the distortion at rate zero (the total variance), where the table ends.
        tail: the mass the box may leave out (the source rounds its box outwards).
        d_grid: the D of the 2-D certificates (default ``distortion_grid(d_max, 12)``).
        n: BA cells per dimension (or one per dimension) of the 2-D certificates (default:
            :func:`synthetic.ba.certify_rd_continuous`'s).
        tol_bits: the discrete BA gap of the 2-D certificates, bits.
        retry_bits: 2-D certificates wider than this are solved again at ``tol_bits / 3``.
        jobs: processes for the 2-D certificates (:func:`synthetic.rd_curve.certify_curve`).
        progress: show a progress bar.
    """
    low, high = source.support_box(tail)
    lo, hi = tuple(float(v) for v in low), tuple(float(v) for v in high)
    if len(lo) > 2:
        raise ValueError(f"tables are built for 1-D and 2-D sources, got dim {len(lo)}")
    if len(lo) == 2:
        grid = distortion_grid(d_max, 12) if d_grid is None else np.asarray(d_grid, dtype=np.float64)
        return certify_curve(
            source.log_density_np,
            grid,
            d_max,
            lo=lo,
            hi=hi,
            n=n,
            tol_bits=tol_bits,
            retry_bits=retry_bits,
            jobs=jobs,
            progress=progress,
        )
    curve = certify_curve(source.log_density_np, distortion_grid(d_max), d_max, lo=lo, hi=hi, progress=progress)
    return refine_curve(curve, source.log_density_np, lo=lo, hi=hi)


def cache_path(name: str, params: dict[str, Any]) -> Path:
    """Where the table of source ``name`` with ``params`` is cached, keyed by a hash of the parameters."""
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return Path(os.environ.get("IBFLOW_CACHE", Path.home() / ".cache" / "ibflow")) / f"rd_{name}_{key}.json"


def load_curve(name: str, params: dict[str, Any], build: Callable[[], RDCurve]) -> RDCurve:
    """The shipped table ``synthetic/data/{name}.json`` if there is one, else the cached one, else
    ``build()`` (saved to the cache for next time)."""
    shipped = DATA / f"{name}.json"
    if shipped.exists():
        return RDCurve.load(shipped)
    cache = cache_path(name, params)
    if cache.exists():
        return RDCurve.load(cache)
    curve = build()
    cache.parent.mkdir(parents=True, exist_ok=True)
    curve.save(cache)
    return curve
