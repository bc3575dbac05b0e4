"""Vector codecs: the FlowCodec, a same-size quantized baseline, and the four rate measurements."""

from ibflow.vector.codec import FlowCodec, FlowCodecOptions, LearnedDecoder
from ibflow.vector.quantized import QuantizedVectorCodec, QuantizedVectorOptions
from ibflow.vector.rates import (
    BinnedMeasurement,
    ChannelMeasurement,
    Measurement,
    batch_measurement,
    matched_bin_width,
    measure_binned,
    measure_channel,
    mi_sandwich,
    sandwich_terms,
)
from ibflow.vector.tcq import ECTCQCodec, ECTCQOptions

__all__ = [
    "FlowCodec",
    "FlowCodecOptions",
    "LearnedDecoder",
    "QuantizedVectorCodec",
    "QuantizedVectorOptions",
    "ECTCQCodec",
    "ECTCQOptions",
    "Measurement",
    "ChannelMeasurement",
    "BinnedMeasurement",
    "measure_channel",
    "mi_sandwich",
    "sandwich_terms",
    "batch_measurement",
    "matched_bin_width",
    "measure_binned",
]
