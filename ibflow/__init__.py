"""Flow layers, the FlowCodec, its training and its rate accounting (nats throughout)."""

from ibflow import channels, jscc

from ibflow.codec import CodecLoss, FlowCodec, LearnedDecoder
from ibflow.layers import (
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
from ibflow.train import TrainConfig, TrainingDiverged, load_checkpoint, save_checkpoint, train

__all__ = [
    "channels",
    "jscc",
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
    "FlowCodec",
    "CodecLoss",
    "LearnedDecoder",
    "TrainConfig",
    "TrainingDiverged",
    "train",
    "save_checkpoint",
    "load_checkpoint",
]
