"""Vector codecs: the FlowCodec (binned or dithered bitstream), nonlinear transform coding (NTC),
entropy-constrained vector, scalar and trellis-coded quantizers, the best-ECSQ reference curve, the four
rate measurements, the Wyner-Ziv FlowCodec (side information at the decoder) and the two-terminal
FlowCodec (two sources encoded separately, decoded jointly)."""

from ibflow.vector.batched import BatchedFlowCodec, GroupedDecoder, can_batch
from ibflow.vector.binning import CosetCode, CosetMeasurement, CosetTrial
from ibflow.vector.codec import FlowCodec, FlowCodecOptions, LearnedDecoder
from ibflow.vector.dithered import DitheredFlowCodec
from ibflow.vector.ecsq import DensityQuadrature, ECSQCurve, ecsq_curve, gaussian_ecsq, laplace_ecsq
from ibflow.vector.ecvq import ECVQCodec, ECVQOptions
from ibflow.vector.ntc import NTCCodec, NTCOptions
from ibflow.vector.rates import (
    BaseCoding,
    BinnedMeasurement,
    ChannelMeasurement,
    Measurement,
    batch_measurement,
    fit_base_coding,
    matched_bin_width,
    measure_binned,
    measure_channel,
    mi_sandwich,
    sandwich_terms,
)
from ibflow.vector.tcq import ECTCQCodec, ECTCQOptions
from ibflow.vector.two_terminal import TwoTerminalFlowCodec, TwoTerminalOptions
from ibflow.vector.uniform import UniformScalarCodec, UniformScalarOptions
from ibflow.vector.side_coding import (
    TwoTerminalCodingMeasurement,
    encoder_is_monotone,
    fit_two_terminal_coding,
    fit_wyner_ziv_coding,
    measure_two_terminal_coding,
    measure_wyner_ziv_coding,
    rate_without_binning,
)
from ibflow.vector.wyner_ziv import WynerZivFlowCodec, WynerZivOptions, build_conditional_prior

__all__ = [
    "FlowCodec",
    "FlowCodecOptions",
    "LearnedDecoder",
    "DitheredFlowCodec",
    "NTCCodec",
    "NTCOptions",
    "ECTCQCodec",
    "ECTCQOptions",
    "ECVQCodec",
    "ECVQOptions",
    "UniformScalarCodec",
    "UniformScalarOptions",
    "WynerZivFlowCodec",
    "WynerZivOptions",
    "build_conditional_prior",
    "BatchedFlowCodec",
    "GroupedDecoder",
    "can_batch",
    "CosetCode",
    "CosetMeasurement",
    "CosetTrial",
    "fit_wyner_ziv_coding",
    "measure_wyner_ziv_coding",
    "encoder_is_monotone",
    "TwoTerminalCodingMeasurement",
    "fit_two_terminal_coding",
    "measure_two_terminal_coding",
    "rate_without_binning",
    "TwoTerminalFlowCodec",
    "TwoTerminalOptions",
    "DensityQuadrature",
    "ECSQCurve",
    "ecsq_curve",
    "gaussian_ecsq",
    "laplace_ecsq",
    "Measurement",
    "ChannelMeasurement",
    "BaseCoding",
    "BinnedMeasurement",
    "measure_channel",
    "mi_sandwich",
    "sandwich_terms",
    "batch_measurement",
    "fit_base_coding",
    "matched_bin_width",
    "measure_binned",
]
