"""Sources whose rate-distortion function is known exactly or bounded tightly, and samplers whose
mutual information is known (nats).

The known-MI task suite (benchmark-mi style) is :data:`MI_TASKS` (:mod:`synthetic.mi_tasks`).

Parts are found by name in two registries: :data:`SOURCES` (:func:`get_source`,
:func:`register_source`) and :data:`SAMPLERS` (:func:`get_sampler`, :func:`register_sampler`).
"""

from contracts.interface import RDBound
from synthetic import mi_maps, mi_mixtures, mi_tasks, samplers, sources  # noqa: F401  (importing them registers the built-in parts)
from synthetic.mi_maps import MappedPair
from synthetic.mi_mixtures import GaussianMixturePair
from synthetic.mi_tasks import MI_TASKS, TASK_FAMILIES, MITask, MultinormalPair, get_task, task_names
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
    "MI_TASKS",
    "SAMPLERS",
    "SOURCES",
    "TASK_FAMILIES",
    "BananaSource",
    "CorrelatedGaussian",
    "CorrelatedLaplaceSource",
    "GaussianMixturePair",
    "GaussianSource",
    "LaplaceSource",
    "MITask",
    "MappedPair",
    "MixtureSource",
    "MultinormalPair",
    "RDBound",
    "Source",
    "StudentTPair",
    "TransformedPair",
    "WaterFilling",
    "gaussian_dr",
    "gaussian_rd",
    "get_sampler",
    "get_source",
    "get_task",
    "register_sampler",
    "register_source",
    "reverse_water_filling",
    "student_t_mi_correction",
    "task_names",
]
