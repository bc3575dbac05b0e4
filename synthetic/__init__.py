"""Sources whose rate-distortion function is known exactly or bounded tightly (nats)."""

from synthetic.rd import RDBound, WaterFilling, gaussian_dr, gaussian_rd, reverse_water_filling
from synthetic.sources import SOURCES, GaussianSource, LaplaceSource, MixtureSource, Source, get_source

__all__ = [
    "RDBound",
    "WaterFilling",
    "Source",
    "GaussianSource",
    "LaplaceSource",
    "MixtureSource",
    "SOURCES",
    "get_source",
    "gaussian_rd",
    "gaussian_dr",
    "reverse_water_filling",
]
