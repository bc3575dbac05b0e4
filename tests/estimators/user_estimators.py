"""A user's own MI estimators, outside ibflow's registry, in the three shapes ``module:attribute`` accepts.

Each is the Gaussian plug-in estimate of :func:`examples.user_parts.gaussian_mi` (the README's
example estimator), wrapped three ways.
"""

from __future__ import annotations

from typing import Any

from contracts.interface import Estimate
from examples.user_parts import gaussian_mi as plug_in_mi


class GaussianMI:
    """Gaussian plug-in estimate of I(X; Y) from the sample covariance (a class: built with its options)."""

    def __init__(self, ridge: float = 0.0) -> None:
        self.ridge = ridge

    def estimate(self, x: Any, y: Any) -> Estimate:
        return Estimate(plug_in_mi(x, y, self.ridge), None, "gaussian", extra={"ridge": self.ridge})


gaussian_mi = GaussianMI()
"""An instance: used as it is, with no options."""


def gaussian_mi_function(x: Any, y: Any, ridge: float = 0.0) -> Estimate:
    """The same estimate as a plain function ``(x, y, **options) -> Estimate``."""
    return Estimate(plug_in_mi(x, y, ridge), None, "gaussian-function")


def not_an_estimate(x: Any, y: Any) -> float:
    """Returns a bare number, which ``estimate_mi`` refuses."""
    return 0.0
