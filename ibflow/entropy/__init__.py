"""Entropy coding: standard-normal bins, Ballé et al.'s factorized model, a conditional Gaussian under a dither, ANS coding (per channel, or of indices
under one pmf), and the one bitstream container."""

from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.bitstream import IMAGE_SIDE_BYTES, RANGE_SIDE_BYTES, stream_bytes
from ibflow.entropy.categorical import (
    PRECISION,
    TABLE_DIGEST_BYTES,
    categorical_code_length,
    coded_log_pmf,
    coded_pmf,
    decode_categorical,
    decode_categorical_rows,
    encode_categorical,
    encode_categorical_rows,
    quantized_pmf,
    quantized_pmf_rows,
    table_digest,
)
from ibflow.entropy.gaussian_conditional import SCALE_BOUND, gaussian_bin_mass, gaussian_tables
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
    "PRECISION",
    "TABLE_DIGEST_BYTES",
    "table_digest",
    "quantized_pmf",
    "quantized_pmf_rows",
    "SCALE_BOUND",
    "gaussian_bin_mass",
    "gaussian_tables",
    "coded_pmf",
    "coded_log_pmf",
    "encode_categorical",
    "decode_categorical",
    "encode_categorical_rows",
    "decode_categorical_rows",
    "categorical_code_length",
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
