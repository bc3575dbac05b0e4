"""The contracts, registries, option dataclasses and shared statistics every ibflow package builds on.

Nothing here imports ibflow, synthetic, estimators or analysis, so this package can never join an
import cycle (DESIGN.md, "Contracts"); it imports only the standard library.
"""

from contracts.interface import (
    BitstreamError,
    Channel,
    Codec,
    CodecLoss,
    CodingPreparedCodec,
    Estimate,
    FittedCodec,
    KnownMISampler,
    MIEstimator,
    NoisyLatentCodec,
    RDBound,
    Sampler,
    Source,
    TabulatedSource,
    SplitSource,
    TrainableCodec,
)
from contracts.options import OptionSpec, add_option_flags, json_object, make_options, option_specs, options_from_flags
from contracts.registry import Entry, Registry, UnknownPartError, is_attribute_path, load_attribute
from contracts.stats import Z_95, mean_se, normal_interval, normal_quantile

__all__ = [
    "BitstreamError",
    "Channel",
    "Codec",
    "CodecLoss",
    "CodingPreparedCodec",
    "Estimate",
    "FittedCodec",
    "KnownMISampler",
    "MIEstimator",
    "NoisyLatentCodec",
    "RDBound",
    "Sampler",
    "Source",
    "TabulatedSource",
    "SplitSource",
    "TrainableCodec",
    "OptionSpec",
    "add_option_flags",
    "make_options",
    "option_specs",
    "options_from_flags",
    "json_object",
    "Entry",
    "Registry",
    "UnknownPartError",
    "is_attribute_path",
    "load_attribute",
    "Z_95",
    "mean_se",
    "normal_interval",
    "normal_quantile",
]
