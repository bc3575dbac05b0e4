"""QuantizedImageCodec: Ballé et al.'s factorized-prior image codec (rounding + ANS), the baseline of the image study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from contracts import CodecLoss
from ibflow.checks import check_choice
from ibflow.entropy.bitstream import check_range
from ibflow.entropy.factorized import (
    FactorizedPrior,
    channel_code_length,
    decode_channels,
    encode_channels,
)
from ibflow.image.codec import check_one_image, pack_image_stream, unpack_image_stream
from ibflow.image.distortion import IMAGE_DISTORTIONS, DistortionKind, image_distortion
from ibflow.noisy import add_uniform_noise
from ibflow.registry import register_codec

__all__ = ["QuantizedImageCodec", "QuantizedImageOptions"]


def _conv(i: int, o: int) -> nn.Conv2d:
    return nn.Conv2d(i, o, 5, stride=2, padding=2)


def _deconv(i: int, o: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(i, o, 5, stride=2, padding=2, output_padding=1)


@dataclass
class QuantizedImageOptions:
    """Options of :class:`QuantizedImageCodec`."""

    channels: int = field(default=3, metadata={"help": "image channels"})
    hidden: int = field(default=32, metadata={"help": "width of g_a and g_s"})
    latent: int = field(default=32, metadata={"help": "channels of the latent y"})
    distortion: DistortionKind = field(default="mse", metadata={"help": "training distortion"})


@register_codec(
    "quantized-image",
    options=QuantizedImageOptions,
    tags=("image",),
    summary="Ballé et al. 2018's factorized-prior image codec: rounding, a factorized entropy model, ANS.",
)
class QuantizedImageCodec(nn.Module):
    """The classic learned codec (Ballé et al. 2018, "factorized prior" model, with ReLU in place of GDN):
    y = g_a(x) at 1/8 resolution, y_hat = round(y) at test time and y + U(-1/2, 1/2) in training
    (Ballé et al. 2017, sec. 2), rate -log of the :class:`~ibflow.entropy.FactorizedPrior` bin masses,
    x_hat = g_s(y_hat). Loss: distortion + beta * rate (nats per pixel), the same Lagrangian as
    :class:`~ibflow.image.ImageFlowCodec`; the bitstream is the same format too.

    Arguments:
        channels: image channels; hidden: width of g_a and g_s; latent: channels of y.
        distortion: ``"mse"`` or ``"ms-ssim"``.

    Example:
        >>> codec = QuantizedImageCodec(hidden=8, latent=8).eval()
        >>> out = codec(torch.rand(1, 3, 16, 16))
        >>> out["x_hat"].shape, out["likelihoods"]["y"].shape
        (torch.Size([1, 3, 16, 16]), torch.Size([1, 8, 2, 2]))
    """

    multiple = 8

    def __init__(self, channels: int = 3, hidden: int = 32, latent: int = 32, distortion: str = "mse"):
        super().__init__()
        check_choice("distortion", distortion, IMAGE_DISTORTIONS)
        self.config: dict[str, Any] = dict(channels=channels, hidden=hidden, latent=latent, distortion=distortion)
        self.distortion_kind: DistortionKind = distortion  # type: ignore[assignment]  # checked above
        self.analysis = nn.Sequential(
            _conv(channels, hidden), nn.ReLU(), _conv(hidden, hidden), nn.ReLU(), _conv(hidden, latent)
        )
        self.synthesis = nn.Sequential(
            _deconv(latent, hidden), nn.ReLU(), _deconv(hidden, hidden), nn.ReLU(), _deconv(hidden, channels)
        )
        self.entropy_model = FactorizedPrior(latent)

    def _quantized(self, x: Tensor, noise: bool, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x_hat, likelihoods of y_hat): y_hat = y + U(-1/2, 1/2) with ``noise``, else round(y)."""
        y = self.analysis(x)
        y_hat = add_uniform_noise(y, generator)[0] if noise else torch.round(y)
        return self.synthesis(y_hat), self.entropy_model.likelihood(y_hat)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Any]:
        """``{"x_hat", "likelihoods": {"y": bin masses}}``: noisy latents in training, rounded ones in evaluation."""
        x_hat, likelihood = self._quantized(x, self.training, generator)
        return {"x_hat": x_hat, "likelihoods": {"y": likelihood}}

    def loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """``distortion + beta * rate`` with additive uniform noise in place of rounding (distortion per
        dimension, rate in nats per pixel)."""
        x_hat, likelihood = self._quantized(x, True, generator)
        distortion = image_distortion(self.distortion_kind, x, x_hat).mean()
        rate = -likelihood.log().flatten(1).sum(1).mean() / (x.shape[-1] * x.shape[-2])
        return CodecLoss(distortion + beta * rate, distortion, rate)

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """round(g_a(x)) as int64, shape (N, latent, H/8, W/8)."""
        return torch.round(self.analysis(x)).to(torch.int64)

    def code_length(self, k: Tensor) -> float:
        """Ideal code length of the symbols (1, C, h, w) under the coder's tables, nats."""
        return channel_code_length(self.entropy_model, k[0].reshape(k.shape[1], -1))

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """One image (1, C, H, W) -> ``{"strings": [container], "shape": (h, w)}``: one
        :mod:`ibflow.entropy.container` of the ANS payload (:func:`~ibflow.entropy.encode_channels`) with the
        symbol range and the image size as side information (:func:`~ibflow.image.codec.pack_image_stream`)."""
        check_one_image(x)
        k = self.symbols(x)
        words, low, high = encode_channels(self.entropy_model, k[0].reshape(k.shape[1], -1))
        return pack_image_stream(self, words, low, high, k, (int(x.shape[-2]), int(x.shape[-1])))

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (1, latent, h, w) that :meth:`compress` coded (a damaged or foreign stream raises
        :class:`contracts.BitstreamError`, see :func:`~ibflow.image.codec.unpack_image_stream`)."""
        words, low, high, height, width = unpack_image_stream(self, strings, shape, self.multiple, self.entropy_model.channels)
        h, w = height // self.multiple, width // self.multiple
        k = decode_channels(self.entropy_model, words, low, high, h * w)
        check_range(k, low, high)
        return k.view(1, -1, h, w)

    @torch.no_grad()
    def reconstruct(self, k: Tensor) -> Tensor:
        return self.synthesis(k.to(torch.float32).to(self.entropy_model.biases[0].device)).clamp(0, 1)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat": decoded image (1, C, H, W) in [0, 1]}`` from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
