"""ImageFlowCodec: Glow encoder, additive Gaussian latent noise, Glow prior, learned decoder, and a bitstream."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contracts import BitstreamError, CodecLoss
from ibflow.checks import check_choice
from ibflow.entropy.bins import StandardNormalBins
from ibflow.entropy.bitstream import (
    ans_decoder,
    bytes_to_words,
    check_drained,
    check_range,
    range_side,
    read_range_side,
    words_to_bytes,
)
from ibflow.entropy.container import pack, unpack_strings
from ibflow.entropy.factorized import (
    FactorizedPrior,
    channel_code_length,
    decode_channels,
    encode_channels,
    fit_factorized_prior,
    fit_to_dithered,
    symbol_range,
)
from ibflow.flows.glow import MultiScaleGlow, squeeze, unsqueeze
from ibflow.image.context import ContextEntropyModel
from ibflow.image.distortion import IMAGE_DISTORTIONS, DistortionKind, image_distortion
from ibflow.noisy import (
    NoisyLatentModule,
    add_latent_noise,
    add_uniform_noise,
    check_sigma,
    fit_affine,
)
from ibflow.registry import part_name, register_codec
from ibflow.training import TrainConfig, train

__all__ = ["BlockDecoder", "ImageFlowCodec", "ImageFlowOptions", "search_subset", "check_one_image", "pack_image_stream", "unpack_image_stream"]

DITHER_SEED = 0  # the bitstream's dither is torch.rand on this seed, one per latent-type element: known to both ends
OFF_WIDTH = 1e3  # base-space bin width of a switched-off latent type: one bin holds all the mass


def check_one_image(x: Tensor) -> None:
    """The image bitstreams code one image at a time: x must be (1, C, H, W)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"compress takes one image of shape (1, C, H, W), got {tuple(x.shape)}")


def pack_image_stream(codec: nn.Module, words: Any, low: int, high: int, k: Tensor, size: tuple[int, int]) -> dict[str, Any]:
    """``{"strings": [container], "shape": (h, w)}`` of one image's symbols ``k`` (1, coded, h, w): one
    :mod:`ibflow.entropy.container` (one string, as CompressAI keeps one per latent) of ``codec``'s name and
    config, with the symbol range and the image ``size`` (height, width) as side information."""
    shape = tuple(int(s) for s in k.shape[-2:])
    data = pack(part_name(codec), codec.config, shape, k.numel(), words_to_bytes(words), range_side(low, high, size))
    return {"strings": [data], "shape": shape}


def unpack_image_stream(
    codec: nn.Module, strings: Sequence[bytes], shape: Sequence[int], multiple: int, coded: int
) -> tuple[Any, int, int, int, int]:
    """(words, low, high, height, width) of an image stream of ``codec`` whose latent ``shape`` is (h, w) =
    (H, W) / multiple with ``coded`` symbols per latent position. Anything but an intact stream of this codec,
    its config and ``shape``, or an image size that does not give ``shape``, raises :class:`contracts.BitstreamError`."""
    stream = unpack_strings(strings, part_name(codec), codec.config, shape)
    low, high, size = read_range_side(stream.side, image=True)
    assert size is not None
    latent = (size[0] // multiple, size[1] // multiple)
    if len(stream.shape) != 2 or size[0] % multiple or size[1] % multiple or stream.shape != latent:
        raise BitstreamError(f"the image size {size} in the stream does not give its latent shape {stream.shape}")
    if stream.symbols != coded * stream.shape[0] * stream.shape[1]:
        raise BitstreamError(f"the stream codes {stream.symbols} symbols, this codec {coded} per latent position of {stream.shape}")
    return bytes_to_words(stream.payload), low, high, size[0], size[1]


@dataclass
class ImageFlowOptions:
    """Options of :class:`ImageFlowCodec`."""

    channels: int = field(default=3, metadata={"help": "image channels"})
    levels: int = field(default=2, metadata={"help": "levels of the multi-scale Glows"})
    steps: int = field(default=2, metadata={"help": "Glow steps per level"})
    hidden: int = field(default=32, metadata={"help": "width of the couplings and the decoder"})
    sigma: float = field(default=0.1, metadata={"help": "latent noise scale"})
    learn_sigma: bool = field(default=False, metadata={"help": "train sigma (as log sigma)"})
    decoder: Literal["learned", "inverse"] = field(default="learned", metadata={"help": "learned decoder or f^-1"})
    distortion: DistortionKind = field(default="mse", metadata={"help": "training distortion"})
    entropy: Literal["context", "factorized"] = field(
        default="context", metadata={"help": "the bitstream's entropy model of the coded latent types"})


ENTROPY_MODELS = ("context", "factorized")


class BlockDecoder(nn.Module):
    """x_hat = unsqueeze^L(A s + c + CNN(s)), s = squeeze^L(z): the image analogue of
    :class:`ibflow.vector.LearnedDecoder`. The encoder mixes pixels only inside 2^L x 2^L blocks
    before its couplings, so a linear map on squeezed blocks holds the linear MMSE decoder; it is set
    by least squares in :meth:`ImageFlowCodec.data_init`, and the CNN's last layer starts at zero."""

    def __init__(self, channels: int, levels: int, hidden: int):
        super().__init__()
        self.levels = levels
        width = channels * 4**levels
        self.affine = nn.Conv2d(width, width, 1)
        nn.init.eye_(self.affine.weight.view(width, width))
        nn.init.zeros_(self.affine.bias)
        last = nn.Conv2d(hidden, width, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.cnn = nn.Sequential(
            nn.Conv2d(width, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), last
        )

    def squeezed(self, z: Tensor) -> Tensor:
        for _ in range(self.levels):
            z = squeeze(z)
        return z

    def forward(self, z: Tensor) -> Tensor:
        s = self.squeezed(z)
        out = self.affine(s) + self.cnn(s)
        for _ in range(self.levels):
            out = unsqueeze(out)
        return out


def search_subset(
    loss: Callable[[Tensor], float], count: int, sweeps: int = 2, device: torch.device | str = "cpu"
) -> tuple[Tensor, float]:
    """A local search for the subset (a bool mask of ``count``) with the lowest ``loss``; the exact
    optimum over 2^count sets is out of reach. Rank the items by the loss change when each alone is
    switched off (from all in) and when each alone is switched on (from none in); along either ranking
    try every prefix; from the best set found, flip single items while a flip lowers the loss (at most
    ``sweeps`` passes). Both rankings are needed: strong but redundant items each look removable alone
    and are not removable together. Returns (mask, its loss); about (4 + sweeps) count evaluations."""
    every = torch.ones(count, dtype=torch.bool, device=device)
    best_set, best = every.clone(), math.inf
    for start in (every, ~every):  # switch items off from all in, on from none in
        base = loss(start)
        if base < best:
            best, best_set = base, start.clone()
        gain = []
        for t in range(count):
            single = start.clone()
            single[t] = ~start[t]
            gain.append(base - loss(single))
        mask = start.clone()
        for t in torch.tensor(gain).argsort(descending=True).tolist():
            mask[t] = ~start[t]
            value = loss(mask)
            if value < best:
                best, best_set = value, mask.clone()
    mask = best_set
    for _ in range(sweeps):
        improved = False
        for t in range(count):
            mask[t] = ~mask[t]
            value = loss(mask)
            if value < best:
                best, improved = value, True
            else:
                mask[t] = ~mask[t]
        if not improved:
            break
    return mask, best


@register_codec("imageflow", options=ImageFlowOptions, tags=("image",))
class ImageFlowCodec(NoisyLatentModule):
    """The FlowCodec of :mod:`ibflow.vector.codec` on images (N, C, H, W) with values in [0, 1].

    Encoder: a :class:`~ibflow.flows.MultiScaleGlow` f, latent z = f(x) + sigma * eps (same shape
    as x). Prior: p(z) = N(h(z); 0, I) |det dh/dz| with a second multi-scale Glow h whose splits carry
    Glow's learned conditional priors. Rate: KL(q(z|x) || p(z)) = -h(q) - E_q log p(z) with
    h(q) = D/2 log(2 pi e sigma^2), D = C H W (Alemi et al. 2018, eq. 6), reported per pixel.
    Decoder: :class:`BlockDecoder` (``"learned"``) or f^-1 (``"inverse"``).

    Rates, as in :mod:`ibflow.vector.rates`: E KL through the noisy channel; the binned rate of :meth:`binned`
    (u = h(f(x)) binned in the prior's N(0, I) base, one width per latent type); and a real bitstream
    (:meth:`compress`): f(x) quantized with a shared, seeded dither on a grid of width sqrt(12) sigma and
    ANS-coded under a factorized entropy model. Dithered quantization is universal quantization: the
    decoder's input (k + d) * step equals f(x) plus noise uniform on the grid cell and independent of x,
    exactly the channel of :meth:`bitstream_loss`, and the expected code length of k under P(k | d) equals
    that loss's rate (Ziv 1985; Agustsson & Theis 2020). With ``entropy="context"`` the symbols are coded under
    :class:`~ibflow.image.context.ContextEntropyModel`, which conditions each group of types and each
    checkerboard half on what was decoded before it, so that the bitstream prices the dependence between
    latent types that the flow prior models and a factorized model cannot. :meth:`select_coded_types` leaves out the latent
    types that cost more bits than they save distortion, and :meth:`finetune_bitstream` trains for the
    bitstream after the Gaussian-channel training. The bitstream does not bin in the base space because h is
    anisotropic: independent bins there put correlated, much larger noise on z than the white noise
    the decoder was trained with (measured: 20.6 dB instead of 33.3 dB on a 192 px crop of chelsea).

    Arguments:
        channels, levels, steps, hidden: the Glows' shape (H and W multiples of 2^levels).
        sigma: latent noise scale; learn_sigma: train log sigma.
        decoder: ``"learned"`` or ``"inverse"``; distortion: ``"mse"`` or ``"ms-ssim"``.
        entropy: the bitstream's entropy model, ``"context"`` (:class:`~ibflow.image.context.ContextEntropyModel`,
            the coded types priced jointly, in channel groups and checkerboard halves) or ``"factorized"``
            (one density per type).

    Example:
        >>> codec = ImageFlowCodec(levels=2, steps=1, hidden=8)
        >>> parts = codec.loss(torch.rand(4, 3, 16, 16), beta=1e-3)
        >>> parts.rate.shape
        torch.Size([])
    """

    bin_width: Tensor
    coded: Tensor
    off_mean: Tensor

    def __init__(
        self,
        channels: int = 3,
        levels: int = 2,
        steps: int = 2,
        hidden: int = 32,
        sigma: float = 0.1,
        learn_sigma: bool = False,
        decoder: str = "learned",
        distortion: str = "mse",
        entropy: str = "context",
    ):
        super().__init__()
        check_choice("decoder", decoder, ("learned", "inverse"))
        check_choice("distortion", distortion, IMAGE_DISTORTIONS)
        check_choice("entropy", entropy, ENTROPY_MODELS)
        sigma = check_sigma(sigma)
        self.config: dict[str, Any] = dict(
            channels=channels, levels=levels, steps=steps, hidden=hidden, sigma=float(sigma),
            learn_sigma=bool(learn_sigma), decoder=decoder, distortion=distortion, entropy=entropy,
        )
        self.distortion_kind: DistortionKind = distortion  # type: ignore[assignment]
        self.encoder = MultiScaleGlow(channels, levels, steps, hidden)
        self.prior = MultiScaleGlow(channels, levels, steps, hidden)
        self.decoder = BlockDecoder(channels, levels, hidden) if decoder == "learned" else None
        self.init_sigma(sigma, learn_sigma)
        # One base-space bin width per latent type; all ones until calibrate_bins() runs on data.
        self.register_buffer("bin_width", torch.ones(channels * 4**levels))
        # The bitstream's entropy model of the rounded latent, fitted by fit_entropy_model().
        self.latent_model = FactorizedPrior(channels * 4**levels)
        # With entropy="context", the coded types are priced jointly (ContextEntropyModel); the factorized
        # model above then codes only its first pass.
        self.context = ContextEntropyModel(channels * 4**levels, hidden) if entropy == "context" else None
        # Which latent types the bitstream carries, and the value (step units) the others decode to:
        # all coded until select_coded_types() runs.
        self.register_buffer("coded", torch.ones(channels * 4**levels, dtype=torch.bool))
        self.register_buffer("off_mean", torch.zeros(channels * 4**levels))

    @property
    def multiple(self) -> int:
        return self.encoder.multiple

    def distortion_per_sample(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """MSE per dimension or 1 - MS-SSIM, per image."""
        return image_distortion(self.distortion_kind, x, x_hat)

    def rate_unit(self, x: Tensor) -> int:
        """Rates are reported per pixel."""
        return x.shape[-1] * x.shape[-2]

    def fit_decoder(self, x: Tensor, z: Tensor) -> None:
        """The decoder's block-linear map by least squares of x on z, pixel blocks as samples
        (as :meth:`ibflow.FlowCodec.data_init`)."""
        assert isinstance(self.decoder, BlockDecoder)
        s = self.decoder.squeezed(z)
        target = self.decoder.squeezed(x) - self.decoder.cnn(s)
        width = s.shape[1]
        weight, bias = fit_affine(s.movedim(1, -1).reshape(-1, width), target.movedim(1, -1).reshape(-1, width))
        self.decoder.affine.weight.copy_(weight.reshape(width, width, 1, 1))
        self.decoder.affine.bias.copy_(bias)

    @torch.no_grad()
    def calibrate_bins(self, x: Tensor, generator: torch.Generator | None = None, off_width: float = 3.0) -> Tensor:
        """Sets one bin width per latent type from data, as :func:`ibflow.vector.rates.matched_bin_width`:
        delta_t = sqrt(12 E[(h(f(x) + sigma eps) - h(f(x)))_t^2]), uniform quantisation noise with the
        variance of the training noise seen in the base space. Types with delta_t >= ``off_width`` carry
        almost nothing (noise is >= 3/4 of their unit base variance): binning them at delta_t would still
        cost -log2 P(0) ~ 0.13 bit per element, so they are switched off (width 1e3, ~0 bits, decoded as 0)."""
        mean, z = self.sample_latent(x, generator)
        u0, u1 = self.prior(mean)[0], self.prior(z)[0]
        diff = self.encoder.latent_types(u1 - u0)
        width = torch.sqrt(12 * diff.double().pow(2).mean(dim=(0, 2, 3)))
        width = torch.where(width >= off_width, torch.full_like(width, OFF_WIDTH), width)
        self.bin_width.copy_(width.to(self.bin_width.dtype))
        return width

    def _bins(self, height: int, width: int) -> StandardNormalBins:
        shape = (1, len(self.bin_width), height // self.multiple, width // self.multiple)
        types = self.bin_width.double().cpu().view(1, -1, 1, 1).expand(shape)
        return StandardNormalBins(self.encoder.from_latent_types(types).reshape(-1))

    @torch.no_grad()
    def binned(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Measurement 3 of :mod:`ibflow.vector.rates` on one image (1, C, H, W): u = h(f(x)) binned in the
        prior's N(0, I) base at the calibrated widths; returns (ideal code length -log P(bins) in nats,
        x_hat decoded from the bin centres, clamped to [0, 1])."""
        height, width = x.shape[-2:]
        bins = self._bins(height, width)
        k = bins.index(self.prior(self.encode(x))[0].flatten(1).cpu())
        u = bins.center(k).to(x.dtype).to(x.device).view(x.shape)
        return -bins.log_pmf(k).sum(), self.decode(self.prior.inverse(u)).clamp(0, 1)

    @property
    def step(self) -> float:
        """Width of the bitstream's rounding grid in latent space, sqrt(12) sigma: uniform rounding noise
        then has the variance sigma^2 of the training noise, in every latent dimension alike."""
        return math.sqrt(12) * float(self.sigma.detach())

    def scaled_latent(self, x: Tensor) -> Tensor:
        """y = f(x) / step per latent type, shape (N, C 4^L, H / 2^L, W / 2^L)."""
        return self.encoder.latent_types(self.encode(x)) / self.step

    @torch.no_grad()
    def fit_entropy_model(self, x: Tensor, steps: int = 300) -> None:
        """Fits the bitstream's :class:`~ibflow.entropy.FactorizedPrior` (one density per latent type)
        to y = f(x) / step on training images x (:func:`~ibflow.entropy.fit_factorized_prior`: maximum
        likelihood of y + U(-1/2, 1/2), the expected code length of the dithered symbols)."""
        latents = torch.cat([self.scaled_latent(xb) for xb in x.split(64)])
        with torch.enable_grad():
            fit_factorized_prior(self.latent_model, latents, steps=steps)
        if self.context is not None:
            self._fit_context(latents, steps)

    def _fit_context(self, latents: Tensor, steps: int, batch: int = 16, lr: float = 1e-3, seed: int = 0) -> None:
        """Orders the types by their factorized rate (strongest coded first), starts the context model's
        per-type Gaussian at the latents' moments, and fits the model by maximum likelihood of y + U on
        spatial minibatches of ``latents`` (N, types, h, w), the factorized model held fixed."""
        assert self.context is not None
        rates = -self.latent_model.likelihood(latents).log().mean(dim=(0, 2, 3))
        self.context.set_order(rates)
        self.context.initialise(latents)
        with torch.enable_grad():
            fit_to_dithered(self.context.parameters(), lambda noisy: self.latent_nats(noisy).sum() / noisy[:, 0].numel(),
                            latents, steps, lr, batch, seed)

    def latent_nats(self, y_tilde: Tensor) -> Tensor:
        """-log of the entropy model's bin mass at the dithered latents ``y_tilde`` (N, types, h, w) for the
        coded types, 0 for the others: the bitstream's code length per element in expectation over the dither."""
        if self.context is None:
            return -self.latent_model.likelihood(y_tilde).log() * self.coded.view(1, -1, 1, 1)
        return -self.context.likelihood(y_tilde, self.coded, self.latent_model.likelihood).log()

    def _decoder_input(self, y_tilde: Tensor, dither: Tensor) -> Tensor:
        """The latent the decoder gets: y~ for coded types, off_mean + d (the shared dither) for the
        others, mapped back to latent units (y~, d: step units, (N, T, h, w))."""
        off = self.off_mean.view(1, -1, 1, 1) + dither
        return self.encoder.from_latent_types(torch.where(self.coded.view(1, -1, 1, 1), y_tilde, off) * self.step)

    def bitstream_loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """``distortion + beta * rate`` through the bitstream's channel: y~ = y + u, u ~ U(-1/2, 1/2)
        (y = f(x) / step), x_hat = decoder of y~ on the coded types and of off_mean + u on the others
        (:meth:`select_coded_types`), rate = -log of the factorized model's bin mass at y~ summed over the
        coded types, in nats per pixel; both are those of the dithered bitstream in expectation over the dither."""
        y = self.scaled_latent(x)
        y_tilde, u = add_uniform_noise(y, generator)
        distortion = image_distortion(self.distortion_kind, x, self.decode(self._decoder_input(y_tilde, u))).mean()
        rate = self.latent_nats(y_tilde).flatten(1).sum(1).mean() / self.rate_unit(x)
        return CodecLoss(distortion + beta * rate, distortion, rate)

    def finetune_objective(self, x: Tensor, beta: float, generator: torch.Generator | None = None) -> CodecLoss:
        """The objective of :meth:`finetune_bitstream`: :meth:`bitstream_loss` plus the flow prior's KL
        on detached latents (so h follows the moving encoder and E KL stays a fitted bound, while the
        KL sends no gradient into f); ``extra`` holds the two terms."""
        parts = self.bitstream_loss(x, beta, generator)
        z = add_latent_noise(self.encode(x).detach(), self.sigma.detach(), generator)
        prior_fit = self.kl_per_sample(z).mean() / self.rate_unit(x)  # gradient only into h
        extra = {"bitstream": parts.total, "prior_fit": prior_fit}
        return CodecLoss(parts.total + prior_fit, parts.distortion, parts.rate, extra)

    @torch.no_grad()
    def select_coded_types(self, x: Tensor, beta: float, seed: int = 0, sweeps: int = 2) -> dict[str, Any]:
        """Chooses the latent types the bitstream carries by the bitstream Lagrangian D + beta R on crops x.

        Why: the dithered bitstream charges a weak latent dimension linearly in its spread, the training
        KL quadratically. For y ~ N(0, s^2) in grid units, coding y + U costs h(y + U) ~ 2.6 s bits per
        element, while the Gaussian channel of the same noise variance 1/12 that E KL charges carries
        1/2 log2(1 + 12 s^2) ~ 8.7 s^2 bits (numerical integration: s = 0.03 gives 0.078 against 0.0077
        bits). So an encoder trained on E KL keeps many weak types that are cheap there and dear in the
        bitstream. A type that is not coded decodes to its mean plus the shared dither, at no rate: the
        reverse water-filling of the Gaussian R(D), which gives components below the water level zero
        rate (Cover & Thomas 2006, thm. 10.3.3), found here by search.

        The set is found by :func:`search_subset`, with one dither draw shared by every candidate.
        Sets :attr:`coded` and :attr:`off_mean` and returns {"coded", "loss_all_coded", "loss"} (the
        losses on x: distortion + beta * nats per pixel)."""
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
        y = self.scaled_latent(x)
        u = (torch.rand(y.shape, generator=torch.Generator().manual_seed(seed)) - 0.5).to(y)
        y_tilde = y + u
        pixels = x.shape[0] * x.shape[-1] * x.shape[-2]
        self.coded.fill_(True)  # each type's rate with every type coded (and, for the context model, as context)
        rate = self.latent_nats(y_tilde).sum(dim=(0, 2, 3)) / pixels  # nats per pixel per type
        self.off_mean.copy_(y.mean(dim=(0, 2, 3)))

        def loss(coded: Tensor) -> float:
            self.coded.copy_(coded)
            x_hat = self.decode(self._decoder_input(y_tilde, u))
            return float(image_distortion(self.distortion_kind, x, x_hat).mean() + beta * rate[coded].sum())

        loss_all = loss(torch.ones_like(self.coded))
        coded, best = search_subset(loss, len(self.coded), sweeps, device=self.coded.device)
        self.coded.copy_(coded)
        return {"coded": int(coded.sum()), "loss_all_coded": loss_all, "loss": best}

    def finetune_bitstream(
        self, sample: Callable[[int, int], Tensor], beta: float, steps: int, batch_size: int = 16,
        lr: float = 1e-3, seed: int = 0,
    ) -> list[float]:
        """Quantization-aware fine-tuning with :func:`ibflow.train` on :meth:`finetune_objective`: Adam
        at a constant ``lr`` on f, h, the decoder and the factorized model (sigma and the grid stay
        fixed; no data initialisation), on batches ``sample(batch_size, seed)`` that the training run
        never drew. Call after :meth:`fit_entropy_model`. Returns the bitstream loss per step.

        Raises :class:`ibflow.TrainingDiverged` (through :func:`ibflow.train`'s guard) if the loss turns
        non-finite or explodes, with the codec restored to its weights of the last good step."""
        if steps == 0:
            return []
        was_training = self.training
        modules = [self.encoder, self.prior, self.latent_model] + [m for m in (self.decoder, self.context) if m is not None]
        config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, schedule="constant")

        def fresh(n: int, s: int) -> Tensor:  # the loop draws seed * 1_000_003 + step + 1: move past the training batches
            return sample(n, s + 499_999)

        try:  # train's divergence guard: TrainingDiverged with the weights of the last good step restored
            result = train(
                self, fresh, beta, config, progress=False, init=False, lr_decay=False,
                parameters=[p for m in modules for p in m.parameters()],
                objective=lambda codec, x, b, generator: self.finetune_objective(x, b, generator),
            )
        finally:  # a diverged run leaves the codec in the mode it was given in, too
            self.train(was_training)
        return result.history["bitstream"]

    def dither(self, shape: torch.Size | tuple[int, ...]) -> Tensor:
        """The shared dither d ~ U(-1/2, 1/2) for symbols of ``shape``: seeded, so the decoder draws the same."""
        generator = torch.Generator().manual_seed(DITHER_SEED)
        return torch.rand(tuple(shape), generator=generator) - 0.5

    @torch.no_grad()
    def symbols(self, x: Tensor) -> Tensor:
        """k = round(f(x) / step - d) for the coded types (d: :meth:`dither`, drawn for every type), int64,
        shape (N, number coded, H / 2^L, W / 2^L)."""
        y = self.scaled_latent(x)
        k = torch.round(y - self.dither(y.shape).to(y.device)).to(torch.int64)
        return k[:, self.coded]

    def _index(self) -> list[int]:
        return self.coded.nonzero().view(-1).tolist()

    def _offset(self, height: int, width: int) -> Tensor:
        """The dither of one image's coded symbols as the coder takes it, (number coded, h w)."""
        h, w = height // self.multiple, width // self.multiple
        return self.dither((1, len(self.coded), h, w))[0][self.coded.cpu()].reshape(-1, h * w)

    def _first_tables(self, t: int, offset: Tensor, low: int, high: int) -> Any:
        """The factorized model's tables P(k | d) of type t's symbols with dither ``offset`` (n,): the
        context model's first pass."""
        return self.latent_model.pmf_table(low, high, offset.view(1, -1), slice(t, t + 1))[0]

    def _context_inputs(self, k: Tensor) -> tuple[Tensor, Tensor]:
        """(every type's symbols (1, types, h, w) on the CPU, 0 where not coded; the dither of all types
        on the codec's device) from the coded symbols ``k`` (1, coded, h, w)."""
        full = torch.zeros(1, len(self.coded), *k.shape[-2:], dtype=torch.int64)
        full[:, self.coded.cpu()] = k.cpu()
        return full, self.dither(full.shape).to(self.coded.device)

    def code_length(self, k: Tensor) -> float:
        """Ideal code length of the symbols (1, coded, h, w) under the coder's tables P(k | d), nats."""
        if self.context is not None:
            full, dither = self._context_inputs(k)
            return self.context.code_length(full, dither, self.coded, self._first_tables, *symbol_range(k))
        offset = self._offset(k.shape[-2] * self.multiple, k.shape[-1] * self.multiple)
        return channel_code_length(self.latent_model, k[0].flatten(1), offset, self._index())

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """One image (1, C, H, W) -> ``{"strings": [container], "shape": (h, w)}``: the latent mean
        f(x) of the coded types quantized with the shared dither on the grid of :attr:`step` and
        ANS-coded per latent type and element under P(k | d): the context model's tables
        (:meth:`~ibflow.image.context.ContextEntropyModel.encode`), or the factorized model's
        (:func:`~ibflow.entropy.encode_channels`);
        the other types cost nothing. One :mod:`ibflow.entropy.container` holds the payload, with the
        symbol range and the image size as side information (:func:`pack_image_stream`). The flow prior
        has no tractable mass for a latent-space cell, so it bounds the rate (E KL, and the binned rate
        of :meth:`binned`) but does not code it."""
        check_one_image(x)
        k = self.symbols(x)
        if self.context is not None:
            low, high = symbol_range(k)
            full, dither = self._context_inputs(k)
            words = self.context.encode(full, dither, self.coded, self._first_tables, low, high)
        else:
            offset = self._offset(x.shape[-2], x.shape[-1])
            words, low, high = encode_channels(self.latent_model, k[0].flatten(1), offset, self._index())
        return pack_image_stream(self, words, low, high, k, (int(x.shape[-2]), int(x.shape[-1])))

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (1, coded, h, w) that :meth:`compress` coded (a damaged or foreign stream raises
        :class:`contracts.BitstreamError`, see :func:`unpack_image_stream`)."""
        index = self._index()
        words, low, high, height, width = unpack_image_stream(self, strings, shape, self.multiple, len(index))
        h, w = height // self.multiple, width // self.multiple
        if self.context is not None:
            coder = ans_decoder(words)
            dither = self.dither((1, len(self.coded), h, w)).to(self.coded.device)
            full = self.context.decode(coder, dither, self.coded, self._first_tables, low, high)
            check_drained(coder)
            k = full[:, self.coded.cpu()]
        else:
            offset = self._offset(height, width)
            k = decode_channels(self.latent_model, words, low, high, h * w, offset, index).view(1, -1, h, w)
        check_range(k, low, high)
        return k

    @torch.no_grad()
    def reconstruct(self, k: Tensor) -> Tensor:
        """x_hat = decoder of (k + d) * step on the coded types and (off_mean + d) * step on the others
        (d: :meth:`dither`), clamped to [0, 1]."""
        device = self.coded.device
        d = self.dither((k.shape[0], len(self.coded), *k.shape[-2:])).to(device)
        y_hat = torch.zeros_like(d)
        y_hat[:, self.coded] = k.to(device, torch.float32)
        return self.decode(self._decoder_input(y_hat + d, d)).clamp(0, 1)

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat": decoded image (1, C, H, W) in [0, 1]}`` from what :meth:`compress` returned."""
        return {"x_hat": self.reconstruct(self.decompress_symbols(strings, shape))}
