"""The names ``estimators.mi`` held before the estimators were split by concern, for callers outside the package.

New code imports from the modules that define them: :mod:`estimators.knn`,
:mod:`estimators.variational`, :mod:`estimators.ba` and :mod:`estimators.registry`.
"""

from .ba import barber_agakov
from .knn import kl_entropy, ksg
from .registry import estimate_mi
from .variational import neural_mi, warn_infonce_cap

__all__ = ["estimate_mi", "ksg", "kl_entropy", "warn_infonce_cap", "neural_mi", "barber_agakov"]
