"""The result type every estimator returns and the small protocol an estimator satisfies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy import stats

__all__ = ["Estimate", "MIEstimator", "block_interval"]


@dataclass(frozen=True)
class Estimate:
    """An estimate in nats.

    Arguments:
        value: the estimate (nats).
        ci: a (low, high) interval, or ``None`` where the method gives none.
        method: the method name, e.g. ``"ksg"``.
        curve: training values (one per step) for trained estimators, else ``None``.
        extra: method-specific details (how the interval was made, jitter, ...).
    """

    value: float
    ci: tuple[float, float] | None
    method: str
    curve: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class MIEstimator(Protocol):
    """Anything with ``estimate(x, y) -> Estimate`` (benchmark-mi style)."""

    def estimate(self, x: Any, y: Any) -> Estimate: ...


def block_interval(center: float, block_values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval ``center +- t sd(blocks) / sqrt(B)`` from B disjoint-block estimates.

    The block estimates are treated as independent replicates; their standard error of the mean
    stands in for the standard error of ``center``. It covers sampling noise, not estimator bias.
    """
    b = np.asarray(block_values, dtype=np.float64)
    if b.size < 2:
        return (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.5 + level / 2, b.size - 1) * b.std(ddof=1) / np.sqrt(b.size))
    return (center - half, center + half)
