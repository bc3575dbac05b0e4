"""Entropy coding: standard-normal bins, Ballé et al.'s factorized model, ANS coding, and the one bitstream container."""

from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.bitstream import IMAGE_SIDE_BYTES, RANGE_SIDE_BYTES, stream_bytes
from ibflow.entropy.container import OVERHEAD_BYTES, Unpacked, config_hash, overhead_bytes, pack, unpack
from ibflow.entropy.factorized import (
    FactorizedPrior,
    channel_code_length,
    decode_channels,
    encode_channels,
    fit_factorized_prior,
)

__all__ = [
    "StandardNormalBins",
    "FactorizedPrior",
    "encode_channels",
    "decode_channels",
    "channel_code_length",
    "fit_factorized_prior",
    "IMAGE_SIDE_BYTES",
    "RANGE_SIDE_BYTES",
    "OVERHEAD_BYTES",
    "Unpacked",
    "config_hash",
    "overhead_bytes",
    "pack",
    "unpack",
    "stream_bytes",
]
