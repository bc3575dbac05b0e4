"""DitheredFlowCodec: a trained FlowCodec's f(x) coded by shared-dither universal quantization under a factorized entropy model."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ibflow.entropy.factorized import (
    FactorizedPrior,
    channel_code_length,
    fit_factorized_prior,
)
from ibflow.checks import check_int
from ibflow.entropy.rows import pack_rows, unpack_rows
from ibflow.registry import part_name, register_codec
from ibflow.vector.codec import DecoderKind, FlowCodec, FlowCodecOptions

__all__ = ["DitheredFlowCodec", "DITHER_SEED"]

DITHER_SEED = 0  # the shared dither is torch.rand on this seed, one value per coded element: known to both ends


@register_codec(
    "flowcodec-dithered",
    options=FlowCodecOptions,
    tags=("vector",),
    summary="A FlowCodec whose bitstream codes f(x) by shared-dither universal quantization (step sqrt(12) sigma), ANS-coded.",
)
class DitheredFlowCodec(FlowCodec):
    r"""The :class:`~ibflow.vector.FlowCodec` (the same options, parameters, ``loss`` and ``forward``, so it
    trains exactly like one) with a second bitstream: the latent mean f(x) coded by universal (dithered)
    quantization, as :class:`~ibflow.image.ImageFlowCodec` codes images.

    With step :math:`\Delta = \sqrt{12}\,\sigma` (uniform noise of the training noise's variance
    :math:`\sigma^2`) and :math:`y = f(x) / \Delta`, the encoder sends :math:`k = \operatorname{round}(y - d)`
    with a dither :math:`d \sim U(-1/2, 1/2)^{\dim}` per sample drawn from a fixed seed, so both ends know
    it; the decoder outputs :math:`\hat x = g(\Delta (k + d))`. Then :math:`k + d - y` is uniform on
    :math:`[-1/2, 1/2)` and independent of x (Ziv 1985), so the decoder sees f(x) plus uniform noise of
    variance :math:`\sigma^2` instead of the Gaussian noise it was trained with, and the code length of k
    under the coder's tables :math:`P(k \mid d) = \int_{k+d-1/2}^{k+d+1/2} p(t)\,dt` is
    :math:`-\log (p * U)(y + u)` in expectation over the dither, a cross-entropy that is
    :math:`I(X; Y + U)` plus the entropy model's mismatch (Agustsson & Theis 2020, arXiv 2006.09952; for a
    factorized p only the per-dimension marginals of y + U are matched).

    The entropy model is a :class:`~ibflow.entropy.FactorizedPrior` of y (:attr:`latent_model`, in the state
    dict), fitted by :meth:`prepare_coding` after gradient training (the loss does not involve it). Until
    then :attr:`coding_fitted` is false and the bitstream, though it decodes exactly, is far from its best
    length. ``forward`` is the FlowCodec's noisy channel, stochastic in evaluation too: a study comparing
    ``forward``'s x_hat with the decoded one reports nothing; :meth:`reconstruct` of :meth:`symbols` is the
    deterministic x_hat that decoding reproduces. :meth:`symbols`, :meth:`reconstruct` and the bitstream are
    the dithered ones; the binned path of the base class (:meth:`base_latent`, :attr:`bins`) is inherited
    but is not what :meth:`compress` codes, so a measurement of the binned bitstream
    (:func:`ibflow.vector.rates.measure_binned`) belongs to the FlowCodec this one was copied from.

    Arguments: those of :class:`~ibflow.vector.FlowCodec`.

    Example:
        >>> codec = DitheredFlowCodec(dim=2)
        >>> x = torch.randn(64, 2)
        >>> codec.data_init(x)  # ActNorm's data-dependent start; training would do it
        >>> codec.prepare_coding(x, steps=20)
        >>> stream = codec.compress(x)
        >>> torch.equal(codec.decompress(**stream)["x_hat"], codec.reconstruct(codec.symbols(x)))
        True
    """

    coding_fitted: Tensor

    def __init__(
        self,
        dim: int,
        decoder: DecoderKind = "learned",
        sigma: float = 1.0,
        learn_sigma: bool = False,
        depth: int = 2,
        hidden: int = 32,
        spline_bins: int | None = 8,
        distortion: str = "mse",
    ):
        super().__init__(dim, decoder, sigma, learn_sigma, depth, hidden, spline_bins, distortion)
        self.latent_model = FactorizedPrior(dim)
        self.register_buffer("coding_fitted", torch.tensor(False))

    @classmethod
    def from_flowcodec(cls, codec: FlowCodec) -> DitheredFlowCodec:
        """A DitheredFlowCodec with ``codec``'s config, weights, sigma and bin widths (a copy: the two share
        no tensors), on its device and in its mode: one trained model, coded both ways. The entropy model
        is unfitted (call :meth:`prepare_coding`) unless ``codec`` is itself a DitheredFlowCodec.

        Example:
            >>> flow = FlowCodec(dim=2)
            >>> twin = DitheredFlowCodec.from_flowcodec(flow)
            >>> x = torch.randn(8, 2)
            >>> torch.equal(twin.encode(x), flow.encode(x)), bool(twin.coding_fitted)
            (True, False)
        """
        if not isinstance(codec, FlowCodec):
            raise TypeError(f"from_flowcodec takes a FlowCodec, got {type(codec).__name__}")
        twin = cls(**codec.config).to(codec.log_sigma.device)
        # load_state_dict copies, so the twin shares no tensor with ``codec``; a dithered codec's own
        # entropy model comes along, a plain FlowCodec's state lacks exactly the entropy model's entries
        dithered = isinstance(codec, DitheredFlowCodec)
        missing, unexpected = twin.load_state_dict(codec.state_dict(), strict=dithered)
        coding = set() if dithered else {k for k in twin.state_dict() if k.startswith("latent_model.") or k == "coding_fitted"}
        if unexpected or set(missing) != coding:
            raise ValueError(f"the state of {type(codec).__name__} does not fit: missing {missing}, unexpected {unexpected}")
        return twin.train(codec.training)

    @property
    def step(self) -> float:
        """Width of the quantization grid in latent space, sqrt(12) sigma: uniform noise of the training
        noise's variance sigma^2 in every dimension."""
        return math.sqrt(12) * float(self.sigma.detach())

    @torch.no_grad()
    def scaled_latent(self, x: Tensor) -> Tensor:
        """y = f(x) / :attr:`step`, shape (n, dim)."""
        return self.encode(x) / self.step

    @torch.no_grad()
    def prepare_coding(self, x: Tensor, steps: int = 1000, lr: float = 0.1, batch: int = 8192, seed: int = 0) -> None:
        """Fits :attr:`latent_model` to y = f(x) / step on training samples x (n, dim) by maximum likelihood of
        y + U(-1/2, 1/2) (:func:`~ibflow.entropy.fit_factorized_prior`), whose negative is the expected code
        length of the dithered symbols: Adam for ``steps`` // 2 steps at ``lr``, then a quarter each at
        ``lr`` / 10 and ``lr`` / 100, on batches of ``batch`` rows (seeded by ``seed``). Why the large lr and
        the decay: the fit converges slowly and, at a constant lr, jitters; measured on the FlowCodec of
        N(0, 1) trained at beta = 0.5 (I(X; Y + U) = 1.254 bits), the code length lies 0.013 bit above
        I(X; Y + U) after 1000 steps at a constant 1e-2 (batch 4096), 0.0007 bit after this default. Call it after gradient training (the loss does not involve the model), and
        again if f or sigma change; it changes no other state. Sets :attr:`coding_fitted`."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"prepare_coding takes x of shape (n, {self.dim}), got {tuple(x.shape)}")
        steps, batch = check_int("steps", steps, 0), check_int("batch", batch, 1)
        latents = self.scaled_latent(x).float()
        phases = ((steps // 2, lr), (steps // 4, lr / 10), (steps - steps // 2 - steps // 4, lr / 100))
        with torch.enable_grad():
            for i, (count, rate) in enumerate(phases):
                if count:
                    fit_factorized_prior(self.latent_model, latents, steps=count, lr=rate, batch=batch, seed=seed + i)
        self.coding_fitted.fill_(True)

    def dither(self, n: int) -> Tensor:
        """The shared dither d ~ U(-1/2, 1/2) of n samples, shape (n, dim), on the CPU: seeded
        (:data:`DITHER_SEED`), so the decoder draws the same."""
        generator = torch.Generator().manual_seed(DITHER_SEED)
        return torch.rand((n, self.dim), generator=generator) - 0.5

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """k = round(f(x) / step - d), int64 (n, dim) (d: :meth:`dither`)."""
        y = self.scaled_latent(x)
        return torch.round(y - self.dither(len(x)).to(y)).to(torch.int64)

    @torch.no_grad()
    def reconstruct(self, k: Tensor) -> Tensor:
        """x_hat = decoder(step * (k + d)) of symbols (n, dim)."""
        d = self.dither(len(k)).to(self.log_sigma.device)
        return self.decode(self.step * (k.to(d) + d))

    @torch.no_grad()
    def code_length(self, k: Tensor) -> float:
        """-sum log P(k | d) of symbols (n, dim) in nats, under exactly the tables :meth:`compress` codes with
        (:func:`~ibflow.entropy.channel_code_length`): the ideal length of the payload."""
        return channel_code_length(self.latent_model, k.T.contiguous(), self.dither(len(k)).T.contiguous())

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """``{"strings": [container], "shape": (n,)}``: the dithered symbols of every row of x (n, dim),
        ANS-coded per element under P(k | d) (:func:`~ibflow.entropy.encode_channels` with the dither as
        offset), in one :mod:`ibflow.entropy.container` with the symbol range as side information.

        Example:
            >>> codec = DitheredFlowCodec(dim=1)
            >>> codec.data_init(torch.randn(64, 1))
            >>> stream = codec.compress(torch.randn(5, 1))
            >>> len(stream["strings"]), stream["shape"], codec.decompress(**stream)["x_hat"].shape
            (1, (5,), torch.Size([5, 1]))
        """
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"compress takes x of shape (n, {self.dim}), got {tuple(x.shape)}")
        k = self.symbols(x)
        data = pack_rows(part_name(self), self.config, self.latent_model, k.T.contiguous(), self.dither(len(x)).T.contiguous())
        return {"strings": [data], "shape": (int(x.shape[0]),)}

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (n, dim) that :meth:`compress` coded; a stream that is not an intact one of this
        codec, config and ``shape`` raises :class:`contracts.BitstreamError`."""
        k = unpack_rows(strings, part_name(self), self.config, shape, self.latent_model,
                        lambda n: self.dither(n).T.contiguous())
        return k.T.contiguous()

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat": decoded rows}`` from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
