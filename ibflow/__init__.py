"""Flow codecs trained without quantization, their rate accounting, and the parts they plug into (nats throughout).

``import ibflow`` stays light: the channels and the JSCC code (and scipy) load on first use of
``ibflow.channel``.
"""

from __future__ import annotations

import importlib
from typing import Any

from contracts import BitstreamError, CodecLoss
from ibflow.checkpoint import load_checkpoint, save_checkpoint
from ibflow.flows import (
    ActNorm,
    AffineCoupling,
    ConditionalAffineCoupling,
    ElementwiseSpline,
    Flow,
    FlowSequential,
    InvConv1x1,
    LULinear,
    Permutation,
    Reverse,
    build_vector_flow,
)
from ibflow.image import ImageFlowCodec, QuantizedImageCodec
from ibflow.video import VideoFlowCodec
from ibflow.registry import (
    CHANNELS,
    CODECS,
    get_channel,
    get_codec,
    register_channel,
    register_codec,
)
from ibflow.training import TrainConfig, TrainingDiverged, TrainResult, train
from ibflow.vector import (
    DitheredFlowCodec, ECTCQCodec, ECVQCodec, FlowCodec, LearnedDecoder, NTCCodec, UniformScalarCodec,
)

__all__ = [
    "FlowCodec",
    "LearnedDecoder",
    "DitheredFlowCodec",
    "NTCCodec",
    "ECTCQCodec",
    "ECVQCodec",
    "UniformScalarCodec",
    "ImageFlowCodec",
    "QuantizedImageCodec",
    "VideoFlowCodec",
    "CodecLoss",
    "BitstreamError",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "train",
    "save_checkpoint",
    "load_checkpoint",
    "CODECS",
    "register_codec",
    "get_codec",
    "CHANNELS",
    "register_channel",
    "get_channel",
    "Flow",
    "ActNorm",
    "LULinear",
    "InvConv1x1",
    "AffineCoupling",
    "ConditionalAffineCoupling",
    "Permutation",
    "Reverse",
    "ElementwiseSpline",
    "FlowSequential",
    "build_vector_flow",
    "channel",
    "JSCCCodec",
]

_LAZY = {"channel": ("ibflow.channel", None), "JSCCCodec": ("ibflow.channel.jscc", "JSCCCodec")}


def __getattr__(name: str) -> Any:
    """PEP 562: ``ibflow.channel`` and ``ibflow.JSCCCodec`` import the channel package on first use."""
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'ibflow' has no attribute {name!r}")
