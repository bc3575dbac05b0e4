"""Entropy coding: standard-normal bins, Ballé et al.'s factorized model, ANS coding and bitstreams."""

from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.bitstream import (
    IMAGE_HEADER_BYTES,
    RANGE_HEADER_BYTES,
    pack_stream,
    stream_bytes,
    unpack_stream,
)
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
    "IMAGE_HEADER_BYTES",
    "RANGE_HEADER_BYTES",
    "pack_stream",
    "unpack_stream",
    "stream_bytes",
]
