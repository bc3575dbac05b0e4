"""The built-in sources with known rate-distortion answers, each registered in :data:`synthetic.SOURCES`.

``gaussian`` and ``gaussian-vector`` (:mod:`~synthetic.sources.gaussian`, exact R(D)),
``laplace`` (:mod:`~synthetic.sources.laplace`) and ``mixture`` (:mod:`~synthetic.sources.mixture`),
whose R(D) is bracketed by certified tables. A new source is one module with a class or factory
decorated by :func:`synthetic.register_source`.
"""

from synthetic.sources.base import Source
from synthetic.sources.gaussian import (
    GaussianOptions,
    GaussianSource,
    GaussianVectorOptions,
)
from synthetic.sources.laplace import LaplaceOptions, LaplaceSource
from synthetic.sources.mixture import MixtureOptions, MixtureSource

__all__ = [
    "GaussianOptions",
    "GaussianSource",
    "GaussianVectorOptions",
    "LaplaceOptions",
    "LaplaceSource",
    "MixtureOptions",
    "MixtureSource",
    "Source",
]
