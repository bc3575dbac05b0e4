"""R(D) bounded from samples: reproduction fits (upper bounds), Csiszar's dual (lower bounds), curves.

See :func:`estimators.rd.estimate_rd_bounds`; ``python -m analysis.rd_bounds`` is its command line.
"""

from estimators.rd.bounds import FAMILIES, RDBoundsConfig, RDBoundsResult, estimate_rd_bounds, slope_targets
from estimators.rd.curve import BoundAtD, lower_bounds, time_sharing_envelope, upper_bounds
from estimators.rd.dual import DualLine, dual_line
from estimators.rd.reproduction import ChannelTerms, MixtureReproduction
from estimators.rd.upper import FitConfig, UpperPoint, fit_reproduction, principal_variances, upper_point, water_level_slope

__all__ = [
    "FAMILIES",
    "BoundAtD",
    "ChannelTerms",
    "DualLine",
    "FitConfig",
    "MixtureReproduction",
    "RDBoundsConfig",
    "RDBoundsResult",
    "UpperPoint",
    "dual_line",
    "estimate_rd_bounds",
    "fit_reproduction",
    "slope_targets",
    "lower_bounds",
    "time_sharing_envelope",
    "upper_bounds",
    "upper_point",
    "principal_variances",
    "water_level_slope",
]
