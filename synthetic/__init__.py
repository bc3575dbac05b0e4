"""Sources whose rate-distortion function is known exactly or bounded tightly, and samplers whose
mutual information is known (nats).

Parts are found by name in two registries: :data:`SOURCES` (:func:`get_source`,
:func:`register_source`) and :data:`SAMPLERS` (:func:`get_sampler`, :func:`register_sampler`).
"""

from contracts.interface import RDBound
from synthetic import samplers, sources  # noqa: F401  (importing them registers the built-in parts)
from synthetic.rd import WaterFilling, gaussian_dr, gaussian_rd, reverse_water_filling
from synthetic.registry import (
    SAMPLERS,
    SOURCES,
    get_sampler,
    get_source,
    register_sampler,
    register_source,
)
from synthetic.samplers import (
    CorrelatedGaussian,
    StudentTPair,
    TransformedPair,
    student_t_mi_correction,
)
from synthetic.sources import (
    BananaSource,
    CorrelatedLaplaceSource,
    GaussianSource,
    LaplaceSource,
    MixtureSource,
    Source,
)

__all__ = [
    "SAMPLERS",
    "SOURCES",
    "BananaSource",
    "CorrelatedGaussian",
    "CorrelatedLaplaceSource",
    "GaussianSource",
    "LaplaceSource",
    "MixtureSource",
    "RDBound",
    "Source",
    "StudentTPair",
    "TransformedPair",
    "WaterFilling",
    "gaussian_dr",
    "gaussian_rd",
    "get_sampler",
    "get_source",
    "register_sampler",
    "register_source",
    "reverse_water_filling",
    "student_t_mi_correction",
]
