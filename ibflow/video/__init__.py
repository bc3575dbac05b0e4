"""Video: the VideoFlowCodec (a FlowCodec whose prior and decoder are conditioned on the previous decoded frame) and its training clips."""

from ibflow.video.codec import GREY, ConditionalBlockDecoder, TemporalPrior, VideoFlowCodec, VideoFlowOptions
from ibflow.video.data import ClipSampler, crop_to_multiple

__all__ = ["VideoFlowCodec", "VideoFlowOptions", "ConditionalBlockDecoder", "TemporalPrior", "GREY", "ClipSampler",
           "crop_to_multiple"]
