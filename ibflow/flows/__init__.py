"""Invertible flow layers with exact log-determinants: vector layers, splines, and the multi-scale Glow."""

from ibflow.flows.base import (
    Flow,
    FlowSequential,
    check_features,
    standard_normal_log_prob,
)
from ibflow.flows.block import BlockDiagonal
from ibflow.flows.conditional import ConditionalAffine
from ibflow.flows.coupling import AffineCoupling, ConditionalAffineCoupling, SplineCoupling
from ibflow.flows.glow import (
    ConvAffineCoupling,
    MultiScaleGlow,
    SplitPrior,
    Squeeze,
    glow_step,
    squeeze,
    unsqueeze,
)
from ibflow.flows.linear import ActNorm, InvConv1x1, LULinear, Permutation, Reverse
from ibflow.flows.spline import (
    ElementwiseSpline,
    rational_quadratic_knots,
    rational_quadratic_spline,
)
from ibflow.flows.vector import build_vector_flow

__all__ = [
    "Flow",
    "FlowSequential",
    "BlockDiagonal",
    "check_features",
    "ActNorm",
    "LULinear",
    "InvConv1x1",
    "Permutation",
    "Reverse",
    "AffineCoupling",
    "ConditionalAffineCoupling",
    "SplineCoupling",
    "ConditionalAffine",
    "ElementwiseSpline",
    "rational_quadratic_knots",
    "rational_quadratic_spline",
    "build_vector_flow",
    "Squeeze",
    "squeeze",
    "unsqueeze",
    "ConvAffineCoupling",
    "SplitPrior",
    "MultiScaleGlow",
    "glow_step",
    "standard_normal_log_prob",
]
