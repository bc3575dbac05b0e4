"""Regenerate the shipped certified R(D) tables: python -m synthetic.make_tables [NAME ...] (names of TABLES).

On 2 cores: laplace and mixture about a minute each, banana about 25 minutes, correlated-laplace
about 22 (2-D certificates on fine grids, in parallel processes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from synthetic.rd_curve import RDCurve
from synthetic.registry import get_source
from synthetic.sources.banana import BananaSource, build_banana_curve
from synthetic.sources.correlated_laplace import CorrelatedLaplaceSource, build_correlated_laplace_curve
from synthetic.sources.laplace import build_laplace_unit_curve
from synthetic.sources.mixture import MixtureSource, build_mixture_curve
from synthetic.tables import DATA

__all__ = ["TABLES", "main"]


def _default_mixture_curve() -> RDCurve:
    source = get_source("mixture")
    assert isinstance(source, MixtureSource)
    return build_mixture_curve(source)


def _default_banana_curve() -> RDCurve:
    return build_banana_curve(BananaSource())


def _default_correlated_laplace_curve() -> RDCurve:
    return build_correlated_laplace_curve(CorrelatedLaplaceSource())


TABLES: dict[str, tuple[str, Callable[[], RDCurve]]] = {
    "laplace": ("laplace_unit.json", build_laplace_unit_curve),
    "mixture": ("mixture_default.json", _default_mixture_curve),
    "banana": ("banana_default.json", _default_banana_curve),
    "correlated-laplace": ("correlated_laplace_default.json", _default_correlated_laplace_curve),
}
"""Table name -> (file in synthetic/data, builder)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Rebuild the named tables (default: all) into synthetic/data."""
    names = list(argv if argv is not None else sys.argv[1:]) or list(TABLES)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise SystemExit(f"unknown table(s) {', '.join(unknown)}: choose from {', '.join(TABLES)}")
    DATA.mkdir(exist_ok=True)
    for name in names:
        filename, build = TABLES[name]
        build().save(DATA / filename)


if __name__ == "__main__":
    main()
