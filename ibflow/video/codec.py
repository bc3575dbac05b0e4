"""VideoFlowCodec: a FlowCodec for frames whose prior and decoder are conditioned on the previous decoded frame."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from contracts import BitstreamError, CodecLoss
from ibflow.checks import check_int
from ibflow.entropy.bitstream import ans_decoder, bytes_to_words, check_drained, check_range, range_side, read_range_side, words_to_bytes
from ibflow.entropy.categorical import PRECISION, quantized_pmf_rows
from ibflow.entropy.container import pack, unpack_strings
from ibflow.entropy.factorized import symbol_range
from ibflow.entropy.gaussian_conditional import SCALE_BOUND, gaussian_bin_mass, gaussian_tables
from ibflow.flows.glow import MultiScaleGlow, squeeze, unsqueeze
from ibflow.noisy import NoisyLatentModule, add_latent_noise, add_uniform_noise, check_sigma, fit_affine
from ibflow.registry import part_name, register_codec
from ibflow.training import TrainConfig, train

__all__ = ["VideoFlowCodec", "VideoFlowOptions", "ConditionalBlockDecoder", "TemporalPrior", "GREY", "SKIP_SCALE"]

GREY = 0.5  # the context of an intra frame: a mid-grey frame, known to both ends
SKIP_SCALE = 1 / math.sqrt(12)
"""An element whose predicted scale (grid units) is below this, the dither's own standard deviation, is not coded:
the decoder takes the prediction, whose expected squared error (the scale squared) is then below the dithered
symbol's 1/12, and no bits are spent. It is the counterpart of the zero-rate components of reverse water-filling
(Cover & Thomas 2006, thm. 10.3.3) and of a video codec's skip mode; both ends decide it from the context alone.
Why it matters: a dithered symbol costs bits even when the prediction is exact, because the Gaussian's mass
(at least :data:`~ibflow.entropy.SCALE_BOUND` wide) straddles a bin edge for part of the dither's range."""
DITHER_SEED = 0
LN2 = math.log(2)


def _squeezed(x: Tensor, levels: int) -> Tensor:
    for _ in range(levels):
        x = squeeze(x)
    return x


def _unsqueezed(x: Tensor, levels: int) -> Tensor:
    for _ in range(levels):
        x = unsqueeze(x)
    return x


def _cnn(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """Three 3x3 convolutions whose last one starts at zero, so the net adds nothing until trained."""
    last = nn.Conv2d(hidden, outputs, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Conv2d(inputs, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1),
                         nn.ReLU(), last)


class ConditionalBlockDecoder(nn.Module):
    """x_hat = unsqueeze^L(A s + a + CNN([s, s_c])), s = squeeze^L(z), s_c = squeeze^L(c): the image codec's
    :class:`~ibflow.image.BlockDecoder` with the context frame c as a second input (a conditional decoder,
    as DVC's, Lu et al. 2019, but without motion fields). A and a are set by least squares
    (:meth:`VideoFlowCodec.data_init`); the CNN starts at zero."""

    def __init__(self, channels: int, levels: int, hidden: int):
        super().__init__()
        self.levels = levels
        width = channels * 4**levels
        self.affine = nn.Conv2d(width, width, 1)
        nn.init.eye_(self.affine.weight.view(width, width))
        nn.init.zeros_(self.affine.bias)
        self.cnn = _cnn(2 * width, hidden, width)

    def forward(self, z: Tensor, context: Tensor) -> Tensor:
        s = _squeezed(z, self.levels)
        out = self.affine(s) + self.cnn(torch.cat([s, _squeezed(context, self.levels) - GREY], 1))
        return _unsqueezed(out, self.levels)


class TemporalPrior(nn.Module):
    r"""p(z | c) = prod_i N(z_i; mu_i(c), s_i(c)^2) on the latent types of z, given the context frame c: a
    conditional affine flow u = (z - mu(c)) / s(c) to N(0, I) (:class:`~ibflow.flows.ConditionalAffine`'s map,
    with convolutional conditioners). The mean starts at the encoder's own latent of the context,
    mu(c) = f(c) + CNN_mu, so that a frame equal to its context costs only the noise; the log-scale is a
    per-type constant plus CNN_s. The CNNs see [f(c), squeeze^L(c)]."""

    def __init__(self, types: int, hidden: int):
        super().__init__()
        self.types = types
        self.base_log_scale = nn.Parameter(torch.zeros(types))
        self.net = _cnn(2 * types, hidden, 2 * types)

    def forward(self, latent_of_context: Tensor, squeezed_context: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log scale), each (N, types, h, w), in latent units."""
        out = self.net(torch.cat([latent_of_context, squeezed_context - GREY], 1))
        mean = latent_of_context + out[:, : self.types]
        return mean, self.base_log_scale.view(1, -1, 1, 1) + out[:, self.types :]


@dataclass
class VideoFlowOptions:
    """Options of :class:`VideoFlowCodec`."""

    channels: int = field(default=3, metadata={"help": "frame channels"})
    levels: int = field(default=2, metadata={"help": "levels of the multi-scale Glow encoder"})
    steps: int = field(default=2, metadata={"help": "Glow steps per level"})
    hidden: int = field(default=32, metadata={"help": "width of the couplings, the prior and the decoder"})
    sigma: float = field(default=0.1, metadata={"help": "latent noise scale"})
    intra_period: int = field(default=0, metadata={"help": "frames per intra frame (0: only the first)"})


@register_codec("videoflow", options=VideoFlowOptions, tags=("video",))
class VideoFlowCodec(NoisyLatentModule):
    r"""The FlowCodec on video: frame x_t is coded given the previous decoded frame c = x_hat_{t-1}.

    Encoder: a :class:`~ibflow.flows.MultiScaleGlow` f, z = f(x_t) + sigma eps. Prior: the conditional flow
    :class:`TemporalPrior`, p(z | c) Gaussian per latent element with mean and scale predicted from c
    (through f(c)). Decoder: :class:`ConditionalBlockDecoder` of (z, c). Training minimises
    D + beta KL(q(z | x_t) || p(z | c)) per pixel, with KL = -h(q) - E_q log p(z | c) exact in h(q) (Alemi et al.
    2018, eq. 6, conditioned on the context both ends hold). An intra frame (the first, and every
    ``intra_period``-th) has the grey frame :data:`GREY` as its context, so one model codes both kinds.

    Training unrolls two frames (:meth:`loss` takes clips (N, 3, C, H, W)): the middle frame goes through the
    training channel given the first, and its reconstruction (no gradient) is the context of the last,
    whose loss is minimised; so the context has the blur of a decoded frame, as at test time. A fraction
    ``intra_fraction`` of the clips train the intra case.

    Bitstream (:meth:`compress`, one video (T, C, H, W) per stream): y = f(x_t) / step per latent type, with
    step = sqrt(12) sigma, quantized as k = round(y - d) under a seeded dither d (universal quantization,
    Ziv 1985), and ANS-coded under the Gaussian bin masses of y given c: mean mu / step, scale
    sqrt(s^2 - sigma^2) / step (the prior models z = f(x) + sigma eps, the bin mass adds the dither's
    uniform noise of the same variance itself). An element whose predicted scale is below :data:`SKIP_SCALE` is
    not coded and decodes to its prediction. Encoder and decoder run the same closed loop: the context of
    frame t is the decoded 8-bit frame t - 1. :meth:`bitstream_loss` is this bitstream's objective in
    expectation over the dither (Agustsson & Theis 2020); :meth:`finetune` trains for it.

    Example:
        >>> codec = VideoFlowCodec(levels=2, steps=1, hidden=8)
        >>> parts = codec.loss(torch.rand(2, 3, 3, 16, 16), beta=1e-3)
        >>> parts.rate.shape
        torch.Size([])
    """

    intra_fraction = 0.15

    def __init__(self, channels: int = 3, levels: int = 2, steps: int = 2, hidden: int = 32, sigma: float = 0.1,
                 intra_period: int = 0):
        super().__init__()
        sigma = check_sigma(sigma)
        check_int("intra_period", intra_period, 0)
        self.config: dict[str, Any] = dict(channels=channels, levels=levels, steps=steps, hidden=hidden,
                                           sigma=float(sigma), intra_period=int(intra_period))
        self.levels = levels
        self.intra_period = int(intra_period)
        self.encoder = MultiScaleGlow(channels, levels, steps, hidden)
        self.types = channels * 4**levels
        self.temporal_prior = TemporalPrior(self.types, hidden)
        self.decoder = ConditionalBlockDecoder(channels, levels, hidden)
        self.init_sigma(sigma, learn_sigma=False)

    @property
    def multiple(self) -> int:
        return self.encoder.multiple

    def rate_unit(self, x: Tensor) -> int:
        return x.shape[-1] * x.shape[-2]

    def is_intra(self, t: int) -> bool:
        """Whether frame t of a sequence is coded with the grey context."""
        return t == 0 or (self.intra_period > 0 and t % self.intra_period == 0)

    @property
    def step(self) -> float:
        """The bitstream's grid width in latent units, sqrt(12) sigma (uniform noise of variance sigma^2)."""
        return math.sqrt(12) * float(self.sigma.detach())

    def latent(self, x: Tensor) -> Tensor:
        """f(x) by latent type, (N, types, H / 2^L, W / 2^L)."""
        return self.encoder.latent_types(self.encode(x))

    def prior_params(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log scale) of p(z | c) by latent type, latent units."""
        return self.temporal_prior(self.latent(context), _squeezed(context, self.levels))

    def decode_with(self, z_types: Tensor, context: Tensor) -> Tensor:
        """x_hat (not clamped) from latent types and the context frame."""
        return self.decoder(self.encoder.from_latent_types(z_types), context)

    def kl_per_sample(self, z_types: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:  # type: ignore[override]
        """-h(q) - log p(z | c) per sample, nats: the one-sample estimate of KL(q(z|x) || p(z|c))."""
        log_sigma = self.log_sigma
        terms = log_scale - log_sigma + 0.5 * ((z_types - mean) / log_scale.exp()).pow(2) - 0.5
        return terms.flatten(1).sum(1)

    def bitstream_params(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, scale) of y = f(x) / step given c, in grid units: the coder's Gaussian (see the class doc)."""
        mean, log_scale = self.prior_params(context)
        variance = (2 * log_scale).exp() - self.sigma.detach() ** 2
        scale = variance.clamp_min(0).sqrt() / self.step
        return mean / self.step, scale.clamp_min(SCALE_BOUND)

    def _contexts(self, clips: Tensor, channel: Callable[[Tensor, Tensor], Tensor], generator: torch.Generator | None) -> Tensor:
        """The context of each clip's last frame: the decoded middle frame (through ``channel``, no gradient)
        given the first, or the grey frame for the intra fraction of the clips."""
        with torch.no_grad():
            middle = channel(clips[:, 1], clips[:, 0]).clamp(0, 1)
        device = generator.device if generator is not None else clips.device
        intra = (torch.rand(len(clips), generator=generator, device=device) < self.intra_fraction).to(clips.device)
        return torch.where(intra.view(-1, 1, 1, 1), torch.full_like(middle, GREY), middle)

    def _check_clips(self, clips: Tensor) -> None:
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise ValueError(f"training takes clips of 3 frames, (N, 3, C, H, W), got {tuple(clips.shape)}")

    def _gaussian_channel(self, generator: torch.Generator | None) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda x, c: self.decode_with(add_latent_noise(self.latent(x), self.sigma, generator), c)

    def loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """D + beta KL on clips (N, 3, C, H, W) through the Gaussian channel: MSE of the last frame, KL in nats
        per pixel given the decoded middle frame (or the grey frame)."""
        self._check_clips(x)
        context = self._contexts(x, self._gaussian_channel(generator), generator)
        target = x[:, 2]
        z = add_latent_noise(self.latent(target), self.sigma, generator)
        mean, log_scale = self.prior_params(context)
        distortion = (self.decode_with(z, context) - target).pow(2).mean()
        rate = self.kl_per_sample(z, mean, log_scale).mean() / self.rate_unit(target)
        return CodecLoss(distortion + beta * rate, distortion, rate)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Clips (N, 3, C, H, W) through the training channel: ``{"x_hat": the last frames, "rate": KL per clip}``."""
        self._check_clips(x)
        context = self._contexts(x, self._gaussian_channel(generator), generator)
        z = add_latent_noise(self.latent(x[:, 2]), self.sigma, generator)
        return {"x_hat": self.decode_with(z, context), "rate": self.kl_per_sample(z, *self.prior_params(context))}

    def _dithered(self, x: Tensor, context: Tensor, generator: torch.Generator | None
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The bitstream's channel in training: (decoder input y^, y~ = y + u, predicted mean and scale, coded mask),
        grid units; y^ is y~ where coded and the prediction where skipped (:data:`SKIP_SCALE`)."""
        y_tilde, _ = add_uniform_noise(self.latent(x) / self.step, generator)
        mean, scale = self.bitstream_params(context)
        coded = scale >= SKIP_SCALE
        return torch.where(coded, y_tilde, mean), y_tilde, mean, scale, coded

    def _uniform_channel(self, generator: torch.Generator | None) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda x, c: self.decode_with(self._dithered(x, c, generator)[0] * self.step, c)

    def bitstream_loss(self, x: Tensor, beta: float | Tensor, generator: torch.Generator | None = None) -> CodecLoss:
        """D + beta R through the bitstream's channel, plus the coder's maximum-likelihood fit: y~ = y + u
        (u ~ U(-1/2, 1/2)) stands in for k + d where the element is coded, the prediction where it is skipped; the
        rate is -log of the coder's Gaussian bin mass at y~ over the coded elements, nats per pixel; the context
        comes through the same channel. ``extra`` holds D + beta R ("bitstream") and the fit ("prior_fit")."""
        self._check_clips(x)
        context = self._contexts(x, self._uniform_channel(generator), generator)
        target = x[:, 2]
        pixels = self.rate_unit(target)
        y_hat, y_tilde, mean, scale, coded = self._dithered(target, context, generator)
        distortion = (self.decode_with(y_hat * self.step, context) - target).pow(2).mean()
        # the rate's gradient goes into the encoder only: were it to reach the prior, it would shrink the scales
        # until elements are skipped, blind to the distortion that skipping them costs
        nats = -gaussian_bin_mass(y_tilde, mean.detach(), scale.detach()).log() * coded
        rate = nats.flatten(1).sum(1).mean() / pixels
        # the coder's Gaussian is fitted by maximum likelihood of y~ on every element, so that its scale, which
        # decides what is skipped, is calibrated (the encoder gets no gradient from this term)
        fit = -gaussian_bin_mass(y_tilde.detach(), mean, scale).log().flatten(1).sum(1).mean() / pixels
        bitstream = distortion + beta * rate
        return CodecLoss(bitstream + fit, distortion, rate, {"bitstream": bitstream, "prior_fit": fit})

    def finetune(self, sample: Callable[[int, int], Tensor], beta: float, steps: int, batch_size: int = 8,
                 lr: float = 1e-4, seed: int = 0, progress: bool = False) -> list[float]:
        """Trains for the bitstream: :func:`ibflow.train` on :meth:`bitstream_loss` (Adam at a constant ``lr``, no
        data initialisation) on clips ``sample(n, seed)`` that the first training never drew. Returns D + beta R
        per step; raises :class:`ibflow.TrainingDiverged` with the last good weights restored."""
        if steps == 0:
            return []
        config = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, schedule="constant")
        result = train(self, lambda n, s: sample(n, s + 499_999), beta, config, progress=progress, init=False,
                       lr_decay=False, objective=lambda codec, x, b, generator: self.bitstream_loss(x, b, generator))
        return result.history["bitstream"]

    @torch.no_grad()
    def data_init(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """From one batch of clips: the decoder's block-linear map by least squares of the last frame on its
        noisy latent (pixel blocks as samples), and the prior's per-type log-scale at the spread of
        f(x_t) + sigma eps around f(x_{t-1})."""
        self._check_clips(x)
        target, previous = x[:, 2], x[:, 1]
        z = add_latent_noise(self.latent(target), self.sigma, generator)
        width = z.shape[1]
        s = z.movedim(1, -1).reshape(-1, width)
        weight, bias = fit_affine(s, _squeezed(target, self.levels).movedim(1, -1).reshape(-1, width))
        self.decoder.affine.weight.copy_(weight.reshape(width, width, 1, 1))
        self.decoder.affine.bias.copy_(bias)
        spread = (z - self.latent(previous)).pow(2).mean(dim=(0, 2, 3)).sqrt()
        self.temporal_prior.base_log_scale.copy_(spread.clamp_min(float(self.sigma)).log())

    # --- the bitstream ---------------------------------------------------------------------------------

    def dither(self, shape: Sequence[int]) -> Tensor:
        """The shared dither d ~ U(-1/2, 1/2) of a whole video's symbols (T, types, h, w): seeded, both ends draw it."""
        return torch.rand(tuple(shape), generator=torch.Generator().manual_seed(DITHER_SEED)) - 0.5

    def _check_video(self, video: Tensor) -> None:
        if video.dim() != 4 or video.shape[1] != self.config["channels"]:
            raise ValueError(f"compress takes one video (T, {self.config['channels']}, H, W), got {tuple(video.shape)}")
        if video.shape[-1] % self.multiple or video.shape[-2] % self.multiple:
            raise ValueError(f"frame height and width must be multiples of {self.multiple}, got {tuple(video.shape[-2:])}")

    @torch.no_grad()
    def symbols(self, video: Tensor) -> Tensor:
        """k = round(f(x_t) / step - d_t) for every frame, int64 (T, types, h, w)."""
        self._check_video(video)
        y = torch.cat([self.latent(frame.unsqueeze(0)) for frame in video]) / self.step
        return torch.round(y - self.dither(y.shape).to(y.device)).to(torch.int64)

    def _context(self, t: int, previous: Tensor | None, like: Tensor) -> Tensor:
        return torch.full_like(like, GREY) if self.is_intra(t) or previous is None else previous

    def _frame_code(self, context: Tensor, dither: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
        """(predicted mean (1, types, h, w) in grid units, which elements are coded (bool, same shape), the coder's
        (mean, scale, dither) of the coded elements in row-major order) of one frame given its context: what both
        ends compute before the frame's symbols."""
        mean, scale = self.bitstream_params(context)
        coded = scale >= SKIP_SCALE
        return mean, coded, (mean[coded], scale[coded], dither[coded])

    def _reconstruct(self, k: Tensor, dither: Tensor, mean: Tensor, coded: Tensor, context: Tensor) -> Tensor:
        """The decoded 8-bit frame (1, C, H, W): k + d where coded, the prediction elsewhere."""
        y_hat = torch.where(coded, k.to(dither.device, dither.dtype) + dither, mean) * self.step
        return (self.decode_with(y_hat, context).clamp(0, 1) * 255).round() / 255

    @torch.no_grad()
    def closed_loop(self, k: Tensor) -> tuple[Tensor, list[Tensor], list[tuple[Tensor, Tensor, Tensor]]]:
        """(decoded frames (T, C, H, W), each frame's coded elements (bool (types, h, w)), each frame's coder
        parameters (see :meth:`_frame_code`)) of the symbols ``k`` (T, types, h, w): the loop the encoder runs,
        as the decoder will. The reconstruction needs no table: the tables follow once the range is known."""
        device = self.log_sigma.device
        dither = self.dither(k.shape).to(device)
        height, width = k.shape[-2] * self.multiple, k.shape[-1] * self.multiple
        like = torch.zeros(1, self.config["channels"], height, width, device=device)
        frames, masks, params, previous = [], [], [], None
        for t in range(len(k)):
            context = self._context(t, previous, like)
            mean, coded, frame_params = self._frame_code(context, dither[t : t + 1])
            previous = self._reconstruct(k[t : t + 1], dither[t : t + 1], mean, coded, context)
            frames.append(previous)
            masks.append(coded[0].cpu())
            params.append(frame_params)
        return torch.cat(frames), masks, params

    def _coded_range(self, k: Tensor, masks: Sequence[Tensor]) -> tuple[int, int]:
        """The range of the coded symbols (the side information; (0, 1) when nothing is coded)."""
        coded = k[torch.stack(list(masks))]
        return symbol_range(coded) if coded.numel() else (0, 1)

    def coded_symbols(self, video: Tensor) -> Tensor:
        """The symbols the bitstream of ``video`` carries: :meth:`symbols` where coded, 0 where skipped (what
        :meth:`decompress_symbols` returns)."""
        k = self.symbols(video)
        masks = self.closed_loop(k)[1]
        return torch.where(torch.stack(masks), k, torch.zeros_like(k))

    def code_length(self, k: Tensor) -> list[float]:
        """Ideal code length of each frame's coded symbols under the tables the coder codes with (quantized as
        constriction quantizes them), nats: a frame's ANS words hold this to within a word or two."""
        _, masks, params = self.closed_loop(k)
        low, high = self._coded_range(k, masks)
        out = []
        for t, (coded, frame_params) in enumerate(zip(masks, params)):
            symbols = (k[t][coded] - low).cpu().numpy()
            table = gaussian_tables(*frame_params, low, high)
            weights = quantized_pmf_rows(table)[np.arange(len(symbols)), symbols].astype(np.float64)
            out.append(PRECISION * len(symbols) * LN2 - float(np.log(weights).sum()))
        return out

    @torch.no_grad()
    def compress(self, video: Tensor) -> dict[str, Any]:
        """One video (T, C, H, W) in [0, 1] -> ``{"strings": [container], "shape": (T, h, w)}``. The payload is the
        word count of every frame (uint32) followed by the frames' ANS words, frame by frame; the container
        (:mod:`ibflow.entropy.container`) holds the symbol range and the frame size as side information."""
        import constriction

        k = self.symbols(video)
        _, masks, params = self.closed_loop(k)
        low, high = self._coded_range(k, masks)
        counts, words = [], []
        for t, (coded, frame_params) in enumerate(zip(masks, params)):
            symbols = (k[t][coded] - low).cpu().numpy().astype(np.int32)
            coder = constriction.stream.stack.AnsCoder()
            if len(symbols):
                table = gaussian_tables(*frame_params, low, high)
                coder.encode_reverse(symbols, constriction.stream.model.Categorical(perfect=False), table)
            w = np.asarray(coder.get_compressed(), dtype=np.uint32)
            counts.append(len(w))
            words.append(w)
        payload = np.concatenate([np.asarray(counts, dtype=np.uint32), *words])
        shape = tuple(int(s) for s in k.shape[:1] + k.shape[-2:])
        side = range_side(low, high, (int(video.shape[-2]), int(video.shape[-1])))
        count = int(sum(int(m.sum()) for m in masks))
        return {"strings": [pack(part_name(self), self.config, shape, count, words_to_bytes(payload), side)], "shape": shape}

    def frame_bytes(self, strings: Sequence[bytes], shape: Sequence[int]) -> list[int]:
        """Bytes of each frame's ANS words in a stream (the per-frame rate; the container adds the rest)."""
        words = bytes_to_words(unpack_strings(strings, part_name(self), self.config, shape).payload)
        return [4 * int(c) for c in words[: shape[0]]]

    def _decode(self, strings: Sequence[bytes], shape: Sequence[int]) -> tuple[Tensor, Tensor]:
        """(coded symbols (T, types, h, w), 0 where skipped; decoded frames (T, C, H, W)) of a stream, in the closed
        loop. Anything but an intact stream of this codec, config and ``shape`` raises :class:`contracts.BitstreamError`."""
        import constriction

        stream = unpack_strings(strings, part_name(self), self.config, shape)
        low, high, size = read_range_side(stream.side, image=True)
        assert size is not None
        frames, h, w = (int(s) for s in stream.shape) if len(stream.shape) == 3 else (0, 0, 0)
        if frames < 1 or size[0] % self.multiple or size[1] % self.multiple or (size[0] // self.multiple, size[1] // self.multiple) != (h, w):
            raise BitstreamError(f"the frame size {size} in the stream does not give its latent shape {tuple(stream.shape)}")
        words = bytes_to_words(stream.payload)
        counts = words[:frames].astype(np.int64)
        if len(words) < frames or int(counts.sum()) != len(words) - frames:
            raise BitstreamError(f"the payload's frame word counts do not add up to its {len(words) - frames} words")
        device = self.log_sigma.device
        dither = self.dither((frames, self.types, h, w)).to(device)
        like = torch.zeros(1, self.config["channels"], *size, device=device)
        out, decoded, masks, previous, start, total = [], [], [], None, frames, 0
        for t in range(frames):
            context = self._context(t, previous, like)
            mean, coded, frame_params = self._frame_code(context, dither[t : t + 1])
            table = gaussian_tables(*frame_params, low, high)
            frame_words = words[start : start + counts[t]]
            start += int(counts[t])
            k = torch.zeros(1, self.types, h, w, dtype=torch.int64)
            if len(table):
                coder = ans_decoder(frame_words)
                symbols = np.asarray(coder.decode(constriction.stream.model.Categorical(perfect=False), table), dtype=np.int64)  # type: ignore[attr-defined]
                check_drained(coder)
                k[coded.cpu()] = torch.from_numpy(symbols + low)
            elif len(frame_words):
                raise BitstreamError(f"frame {t} codes no symbol but has {len(frame_words)} words")
            total += len(table)
            masks.append(coded[0].cpu())
            previous = self._reconstruct(k, dither[t : t + 1], mean, coded, context)
            out.append(k)
            decoded.append(previous)
        if stream.symbols != total:
            raise BitstreamError(f"the stream says it codes {stream.symbols} symbols, its frames code {total}")
        k = torch.cat(out)
        check_range(k[torch.stack(masks)], low, high)  # the side information's range is that of the coded symbols
        return k, torch.cat(decoded)

    @torch.no_grad()
    def decompress_symbols(self, strings: Sequence[bytes], shape: Sequence[int]) -> Tensor:
        """The symbols (T, types, h, w) that :meth:`compress` coded, 0 where skipped (:meth:`coded_symbols`)."""
        return self._decode(strings, shape)[0]

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        """``{"x_hat": the decoded video (T, C, H, W), 8-bit levels in [0, 1]}``."""
        return {"x_hat": self._decode(strings, shape)[1]}

    @torch.no_grad()
    def channel_rates(self, video: Tensor, generator: torch.Generator | None = None) -> tuple[list[float], Tensor]:
        """Through the Gaussian training channel, in the closed loop of its own decoded frames: (E KL of each
        frame in nats, one-sample estimates; the decoded frames). A bound on what a code for this channel
        could reach, not a bitstream."""
        self._check_video(video)
        kl, frames, previous = [], [], None
        for t, frame in enumerate(video):
            x = frame.unsqueeze(0)
            context = self._context(t, previous, x)
            z = add_latent_noise(self.latent(x), self.sigma, generator)
            kl.append(float(self.kl_per_sample(z, *self.prior_params(context))[0]))
            previous = (self.decode_with(z, context).clamp(0, 1) * 255).round() / 255
            frames.append(previous)
        return kl, torch.cat(frames)
