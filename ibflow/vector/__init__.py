"""Vector codecs: the FlowCodec (binned or dithered bitstream), nonlinear transform coding (NTC), and the four rate measurements."""

from ibflow.vector.codec import FlowCodec, FlowCodecOptions, LearnedDecoder
from ibflow.vector.dithered import DitheredFlowCodec
from ibflow.vector.ntc import NTCCodec, NTCOptions
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

__all__ = [
    "FlowCodec",
    "FlowCodecOptions",
    "LearnedDecoder",
    "DitheredFlowCodec",
    "NTCCodec",
    "NTCOptions",
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
