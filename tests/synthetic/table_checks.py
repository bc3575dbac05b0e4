"""Checks shared by the tests of sources with certified R(D) tables (banana, correlated Laplace)."""

from __future__ import annotations

import numpy as np
from types import ModuleType
from typing import Any

import pytest

from contracts.interface import RDBound
from synthetic import get_source
from synthetic.rd_curve import RDCurve
from synthetic.tables import DATA
from synthetic.sources.base import Source

__all__ = ["check_builds_and_caches_other_tables", "check_rd_bracket", "check_reads_the_shipped_table", "check_table_consistent"]


def check_rd_bracket(src: Source, Ds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """lower <= upper, SLB <= lower, upper <= Gaussian bound, both non-increasing in D, the lower
    curve convex (a max of supporting lines, the SLB and 0); returns (lower, upper) at ``Ds``."""
    Ds = np.sort(np.asarray(Ds, dtype=np.float64))
    bounds = [src.rate_distortion(float(D)) for D in Ds]
    lo = np.array([b.lower for b in bounds])
    up = np.array([b.upper for b in bounds])
    slb = np.array([src.shannon_lower_bound(float(D)) for D in Ds])
    gub = np.array([src.gaussian_upper_bound(float(D)) for D in Ds])
    assert np.all(np.isfinite(up))
    assert np.all(lo <= up)
    assert np.all(slb - 1e-12 <= lo)
    assert np.all(up <= gub + 1e-12)
    assert np.all(np.diff(lo) <= 1e-12) and np.all(np.diff(up) <= 1e-12)
    # convexity of the lower curve on a uniform sub-grid: the chord lies above the midpoint
    lin = np.linspace(Ds[0], Ds[-1], 41)
    ll = np.array([src.rate_distortion(float(D)).lower for D in lin])
    assert np.all(ll[1:-1] <= 0.5 * (ll[:-2] + ll[2:]) + 1e-12)
    return lo, up


def check_table_consistent(curve: RDCurve, src: Source) -> None:
    """Every certificate's supporting line lies below every certified achievable point, each
    achievable point is above the SLB, and the slopes fall as D grows (R is convex)."""
    D = np.asarray(curve.D)
    lam = np.asarray(curve.slope)
    lower = np.asarray(curve.lower)
    dq = np.asarray(curve.channel_distortion)
    upper = np.asarray(curve.upper)
    assert np.all(np.diff(D) > 0) and np.all(dq <= D * (1 + 1e-12))
    assert np.all(np.diff(lam) < 0)
    lines = lower[:, None] - lam[:, None] * (dq[None, :] - D[:, None])  # line k at point j
    assert np.all(lines <= upper[None, :] + 1e-9)
    slb = np.array([src.shannon_lower_bound(float(d)) for d in dq])
    assert np.all(upper >= slb - 1e-12)
    assert curve.d_max == float(src.variance().sum())


def check_reads_the_shipped_table(name: str, Ds: tuple[float, ...]) -> RDCurve:
    """The default source's bounds are its shipped file's (``{table_name}_default.json``), cut by the
    SLB and the Gaussian bound; the file is a consistent table. Returns the shipped curve."""
    src = get_source(name)
    curve = RDCurve.load(DATA / f"{src.table_name}_default.json")
    check_table_consistent(curve, src)
    for D in Ds:
        lo, up = curve.bounds(D)
        assert src.rate_distortion(D) == RDBound(max(lo, src.shannon_lower_bound(D)), min(up, src.gaussian_upper_bound(D)))
    return curve


def check_builds_and_caches_other_tables(
    monkeypatch: pytest.MonkeyPatch, cache: Any, name: str, module: ModuleType, builder: str, other: dict[str, Any], D: float
) -> None:
    """With ``module.builder`` replaced by a stub returning the shipped table: the defaults never
    build, ``other`` parameters build once, are cached under ``cache``, and the second source of
    those parameters reads the cache."""
    monkeypatch.setenv("IBFLOW_CACHE", str(cache))
    built = []
    shipped = RDCurve.load(DATA / f"{get_source(name).table_name}_default.json")

    def fake_build(source: Source, progress: bool = True) -> RDCurve:
        built.append(source.params())
        return shipped

    monkeypatch.setattr(module, builder, fake_build)
    get_source(name).rate_distortion(D)
    assert built == []  # the defaults never build
    first = get_source(name, **other)
    first.rate_distortion(D)
    get_source(name, **other).rate_distortion(D)  # the second time from the cache
    assert built == [first.params()] and len(list(cache.glob(f"rd_{first.table_name}_*.json"))) == 1
