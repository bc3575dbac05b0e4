"""Image distortions per image: mean squared error per dimension on [0, 1], or 1 - MS-SSIM."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

__all__ = ["DistortionKind", "MS_SSIM_MIN_SIDE", "IMAGE_DISTORTIONS", "image_distortion"]

DistortionKind = Literal["mse", "ms-ssim"]
IMAGE_DISTORTIONS = ("mse", "ms-ssim")
MS_SSIM_MIN_SIDE = 161  # 5 scales with an 11-px window need a short side > (11 - 1) * 2^4 = 160


def image_distortion(kind: DistortionKind, x: Tensor, x_hat: Tensor) -> Tensor:
    """Per image: mean squared error per dimension (x in [0, 1]), or 1 - MS-SSIM (Wang et al. 2003)
    with data_range 1 (pytorch-msssim; needs a short side of at least 161 px)."""
    if kind == "mse":
        return (x - x_hat).pow(2).flatten(1).mean(1)
    if kind == "ms-ssim":
        if min(x.shape[-2:]) < MS_SSIM_MIN_SIDE:
            raise ValueError(
                f"distortion 'ms-ssim' needs images with a short side >= {MS_SSIM_MIN_SIDE} px (5 scales, "
                f"11-px window), got {tuple(x.shape[-2:])}; use larger crops or distortion 'mse'"
            )
        from pytorch_msssim import ms_ssim

        return 1 - ms_ssim(x, x_hat, data_range=1.0, size_average=False)
    raise ValueError(f"distortion must be 'mse' or 'ms-ssim', got {kind!r}")
