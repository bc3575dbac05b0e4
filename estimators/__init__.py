"""Mutual-information and f-divergence estimators with intervals, checked against closed forms (nats).

Every MI estimator is registered in :data:`ESTIMATORS` (see :mod:`estimators.registry` for the
shape of one) and run by :func:`estimate_mi`; ``python -m estimators`` is the command line.
"""

from typing import Any

from contracts.interface import Estimate, MIEstimator

from .registry import (
    ESTIMATORS,
    ConfiguredEstimator,
    build_estimator,
    estimate_mi,
    register_estimator,
)

# importing the estimator modules registers them (one decorator each)
from . import ba, doe, knn, variational  # noqa: F401

__all__ = [
    "Estimate",
    "MIEstimator",
    "ESTIMATORS",
    "register_estimator",
    "ConfiguredEstimator",
    "build_estimator",
    "estimate_mi",
    "METHODS",
]


def __getattr__(name: str) -> Any:
    # METHODS is derived from the registry on each access, so installed entry points count too
    if name == "METHODS":
        return tuple(ESTIMATORS.names())
    raise AttributeError(f"module 'estimators' has no attribute {name!r}")
