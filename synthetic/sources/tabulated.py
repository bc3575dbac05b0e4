"""The base of the 2-D sources whose R(D) is a certified Blahut-Arimoto table (banana, correlated Laplace)."""

from __future__ import annotations

from typing import Any

from contracts.interface import RDBound
from synthetic.checks import check_positive
from synthetic.rd_curve import RDCurve
from synthetic.sources.base import Source
from synthetic.tables import load_curve

__all__ = ["CertifiedTableSource"]


class CertifiedTableSource(Source):
    """R(D) from a certified table, intersected with the Shannon lower bound and the Gaussian upper
    bound; 0 at and beyond the total variance (x_hat = E[X]).

    A subclass names its table (``table_name``; the defaults' table ships as
    ``synthetic/data/{table_name}_default.json``, others are built once and cached) and says how to
    build it (:meth:`build_table`). Its default parameters are those of ``type(self)()``.
    """

    table_name: str = "table"

    def build_table(self) -> RDCurve:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def rate_distortion(self, D: float) -> RDBound:
        D = check_positive(D, "D")
        if D >= self.variance().sum():
            return RDBound(0.0, 0.0)
        lo, up = self._table().bounds(D)
        return RDBound(max(lo, self.shannon_lower_bound(D)), min(up, self.gaussian_upper_bound(D)))

    def optimal_distortion(self, beta: float) -> float | None:
        """From the certified table's slopes: the D where R'(D) = -1/beta (None outside the table)."""
        return self._table().distortion_at_slope(1.0 / check_positive(beta, "beta"))

    def _table(self) -> RDCurve:
        curve: RDCurve | None = getattr(self, "_curve", None)
        if curve is None:
            default = self.params() == type(self)().params()
            name = f"{self.table_name}_default" if default else self.table_name
            curve = load_curve(name, self.params(), self.build_table)
            self._curve = curve
        return curve
