"""Image codecs: the ImageFlowCodec (multi-scale Glow) and its context entropy model, the quantized baseline, image data and distortions."""

from ibflow.image.codec import (
    BlockDecoder,
    ImageFlowCodec,
    ImageFlowOptions,
    search_subset,
)
from ibflow.image.context import ContextEntropyModel
from ibflow.image.distortion import MS_SSIM_MIN_SIDE, image_distortion
from ibflow.image.quantized import QuantizedImageCodec, QuantizedImageOptions

__all__ = [
    "ImageFlowCodec",
    "ImageFlowOptions",
    "BlockDecoder",
    "search_subset",
    "ContextEntropyModel",
    "QuantizedImageCodec",
    "QuantizedImageOptions",
    "image_distortion",
    "MS_SSIM_MIN_SIDE",
]
