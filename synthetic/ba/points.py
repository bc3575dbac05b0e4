"""Certified points of R(D) found by Blahut-Arimoto, and the warning for unconverged ones."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["LN2", "BAConvergenceWarning", "BAPoint", "warn_unconverged", "with_iterations"]

LN2 = math.log(2.0)


class BAConvergenceWarning(RuntimeWarning):
    """Blahut-Arimoto stopped at ``max_iter`` before certifying the requested gap."""


@dataclass(frozen=True, eq=False)
class BAPoint:
    """One certified point of a rate-distortion function (nats).

    Both bounds hold at ``distortion``: ``rate_lower <= R(distortion) <= rate_upper``
    (Blahut 1972; Cover & Thomas 2006, Sec. 10.8).

    Arguments:
        slope: the Lagrange multiplier lam > 0 of ``D + R / lam``; ``R'(D) = -lam`` at the optimum.
        distortion: the expected distortion of the test channel found (an upper bound on it
            on the FFT path, where the channel's distortion carries round-off error bars).
        rate_lower: Blahut's lower bound ``-lam D - sum_x p log Z(x) - max_y log c(y)``.
        rate_upper: Blahut's upper bound, the mutual information of the test channel
            (on the FFT path ``E_x KL(Q(.|x) || q)``, which is >= the mutual information).
        iterations: Blahut-Arimoto updates used.
        converged: whether ``rate_upper - rate_lower <= tol`` was certified.
        q: the output pmf of the test channel ``Q(y|x) = q(y) exp(-lam d(x, y)) / Z(x)``.
    """

    slope: float
    distortion: float
    rate_lower: float
    rate_upper: float
    iterations: int
    converged: bool
    q: NDArray[np.float64] = field(repr=False)

    @property
    def gap(self) -> float:
        """Certified width ``rate_upper - rate_lower`` in nats."""
        return self.rate_upper - self.rate_lower



def with_iterations(pt: BAPoint, iterations: int) -> BAPoint:
    """The same point, reporting ``iterations`` updates (a search counts every solve behind it)."""
    return BAPoint(pt.slope, pt.distortion, pt.rate_lower, pt.rate_upper, iterations, pt.converged, pt.q)


def warn_unconverged(points: Sequence[BAPoint], max_iter: int, tol_bits: float, stacklevel: int = 3) -> None:
    """Warn (:class:`BAConvergenceWarning`) when any point stopped at ``max_iter`` short of ``tol_bits``."""
    bad = [pt for pt in points if not pt.converged]
    if bad:
        worst = max(pt.gap for pt in bad) / LN2
        warnings.warn(
            f"Blahut-Arimoto hit max_iter={max_iter} at {len(bad)} slope(s) before certifying "
            f"tol_bits={tol_bits}; worst certified gap {worst:.3g} bits (bounds still valid)",
            BAConvergenceWarning,
            stacklevel=stacklevel,
        )
