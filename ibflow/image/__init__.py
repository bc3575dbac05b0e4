"""Image codecs: the ImageFlowCodec (multi-scale Glow), the quantized baseline, image data and distortions."""

from ibflow.image.codec import (
    BlockDecoder,
    ImageFlowCodec,
    ImageFlowOptions,
    search_subset,
)
from ibflow.image.distortion import MS_SSIM_MIN_SIDE, image_distortion
from ibflow.image.quantized import QuantizedImageCodec, QuantizedImageOptions

__all__ = [
    "ImageFlowCodec",
    "ImageFlowOptions",
    "BlockDecoder",
    "search_subset",
    "QuantizedImageCodec",
    "QuantizedImageOptions",
    "image_distortion",
    "MS_SSIM_MIN_SIDE",
]
