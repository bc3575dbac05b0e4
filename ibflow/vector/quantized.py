"""QuantizedVectorCodec: analysis MLP, rounding, Ballé et al.'s factorized entropy model, synthesis MLP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from contracts import BitstreamError
from ibflow.entropy.bitstream import bytes_to_words, check_range, range_side, read_range_side, words_to_bytes
from ibflow.entropy.container import pack, unpack_strings
from ibflow.entropy.factorized import FactorizedPrior, decode_channels, encode_channels
from ibflow.registry import part_name, register_codec

__all__ = ["QuantizedVectorCodec", "QuantizedVectorOptions"]


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, d_out))


@dataclass
class QuantizedVectorOptions:
    """Options of :class:`QuantizedVectorCodec` (its ``dim`` comes from the source)."""

    hidden: int = field(default=32, metadata={"help": "width of the analysis and synthesis MLPs"})


@register_codec(
    "quantized-vector",
    options=QuantizedVectorOptions,
    tags=("vector",),
    summary="Rounding and a factorized entropy model between MLP transforms (Ballé et al. 2018), ANS-coded.",
)
class QuantizedVectorCodec(nn.Module):
    """Minimal quantized codec for vectors of the same size as a FlowCodec: analysis MLP g_a, rounding,
    the factorized entropy model :class:`~ibflow.entropy.FactorizedPrior` (Ballé et al. 2018, no
    hyperprior), synthesis MLP g_s. Trained with additive uniform noise in place of rounding (Ballé et
    al. 2017, sec. 2), evaluated and coded with rounding; the bitstream is
    :func:`~ibflow.entropy.encode_channels` (ANS with one categorical table per channel over the
    symbols' range, built at each call), in one :mod:`ibflow.entropy.container`.

    Example:
        >>> codec = QuantizedVectorCodec(2, hidden=8).eval()
        >>> out = codec(torch.randn(5, 2))
        >>> out["x_hat"].shape, out["likelihoods"]["y"].shape
        (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    def __init__(self, dim: int, hidden: int = 32):
        super().__init__()
        self.config: dict[str, Any] = dict(dim=dim, hidden=hidden)
        self.dim = dim
        self.g_a = _mlp(dim, hidden, dim)
        self.g_s = _mlp(dim, hidden, dim)
        self.entropy = FactorizedPrior(dim)

    def _quantized(self, x: Tensor, noise: bool, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x_hat, likelihoods of the latent) with uniform noise (training) or rounding."""
        y = self.g_a(x)
        if noise:
            # (y + u) - 1/2 in this order, u drawn like torch.rand_like: seeded runs keep their digits
            u = torch.rand(y.shape, generator=generator, dtype=y.dtype, device=generator.device if generator is not None else y.device)
            y_t = y + u.to(y.device) - 0.5
        else:
            y_t = torch.round(y)
        return self.g_s(y_t), self.entropy.likelihood(y_t)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Any]:
        """``{"x_hat", "likelihoods": {"y": bin masses}}``: noisy latents in training, rounded ones in evaluation."""
        x_hat, likelihood = self._quantized(x, self.training, generator)
        return {"x_hat": x_hat, "likelihoods": {"y": likelihood}}

    def forward_parts(self, x: Tensor, noise: bool) -> tuple[Tensor, Tensor]:
        """(x_hat, rate in nats per sample) with uniform noise (training) or rounding."""
        x_hat, likelihood = self._quantized(x, noise)
        return x_hat, -torch.log(likelihood).sum(-1)

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """Rounded latents, shape (dim, n) int64 (channels first, as the entropy coder takes them)."""
        return torch.round(self.g_a(x)).to(torch.int64).T.contiguous()

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}``: one :mod:`ibflow.entropy.container` (one string,
        as CompressAI keeps one per latent) holding the ANS payload and the symbol range as side information.

        Example:
            >>> codec = QuantizedVectorCodec(2, hidden=8).eval()
            >>> x = torch.randn(5, 2)
            >>> stream = codec.compress(x)
            >>> torch.equal(codec.decompress(**stream)["x_hat"], codec(x)["x_hat"])
            True
        """
        k = self.symbols(x)
        words, low, high = encode_channels(self.entropy, k)
        shape = (int(x.shape[0]),)
        data = pack(part_name(self), self.config, shape, k.numel(), words_to_bytes(words), range_side(low, high))
        return {"strings": [data], "shape": shape}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (dim, n) that :meth:`compress` coded; a stream that is not an intact one of this
        codec, config and ``shape`` raises :class:`contracts.BitstreamError`."""
        stream = unpack_strings(strings, part_name(self), self.config, shape)
        if len(stream.shape) != 1 or stream.symbols != stream.shape[0] * self.dim:
            raise BitstreamError(
                f"a vector stream has shape (n,) and n * {self.dim} symbols, got {stream.shape} and {stream.symbols}"
            )
        low, high, _ = read_range_side(stream.side)
        k = decode_channels(self.entropy, bytes_to_words(stream.payload), low, high, stream.shape[0])
        check_range(k, low, high)
        return k

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat"}`` from what :meth:`compress` returned."""
        k = self.decompress_symbols(strings, shape)
        return {"x_hat": self.g_s(k.T.to(torch.float32))}
