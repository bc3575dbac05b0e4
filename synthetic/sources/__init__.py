"""The built-in sources with known rate-distortion answers, each registered in :data:`synthetic.SOURCES`.

``gaussian`` and ``gaussian-vector`` (:mod:`~synthetic.sources.gaussian`, exact R(D)),
``laplace`` (:mod:`~synthetic.sources.laplace`), ``mixture`` (:mod:`~synthetic.sources.mixture`),
``banana`` (:mod:`~synthetic.sources.banana`, the 2-D source of Ballé et al. 2021) and
``correlated-laplace`` (:mod:`~synthetic.sources.correlated_laplace`, a linearly mixed Laplace
pair), whose R(D) is bracketed by certified tables. :class:`~synthetic.sources.side_information.GaussianSideInformation`
(a jointly Gaussian pair [x, y] for Wyner-Ziv coding) is a sampler with its limits, not a registered source. A new source is one module with a class or factory
decorated by :func:`synthetic.register_source`.
"""

from synthetic.sources.banana import BananaOptions, BananaSource
from synthetic.sources.base import Source
from synthetic.sources.correlated_laplace import CorrelatedLaplaceOptions, CorrelatedLaplaceSource
from synthetic.sources.gaussian import (
    GaussianOptions,
    GaussianSource,
    GaussianVectorOptions,
)
from synthetic.sources.laplace import LaplaceOptions, LaplaceSource
from synthetic.sources.mixture import MixtureOptions, MixtureSource
from synthetic.sources.side_information import GaussianSideInformation

__all__ = [
    "BananaOptions",
    "BananaSource",
    "CorrelatedLaplaceOptions",
    "CorrelatedLaplaceSource",
    "GaussianOptions",
    "GaussianSideInformation",
    "GaussianSource",
    "GaussianVectorOptions",
    "LaplaceOptions",
    "LaplaceSource",
    "MixtureOptions",
    "MixtureSource",
    "Source",
]
