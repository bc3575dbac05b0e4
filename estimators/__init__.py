"""Mutual-information and f-divergence estimators with intervals, checked against closed forms (nats)."""

from .estimate import Estimate, MIEstimator
from .mi import METHODS, MIEstimatorFor, estimate_mi

__all__ = ["Estimate", "MIEstimator", "MIEstimatorFor", "METHODS", "estimate_mi"]
