"""Joint source-channel coding: analog flow codecs through a channel, their training, evaluation and bounds."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import torch
from torch import Tensor, nn

from contracts import Sampler
from contracts.stats import Z_95
from ibflow.channel.channels import Channel, ChannelOutput, PowerNormalization
from ibflow.flows.base import Flow
from ibflow.flows.vector import build_vector_flow
from ibflow.registry import get_channel, register_codec
from ibflow.training import TrainConfig, TrainResult, train
from ibflow.vector.codec import LearnedDecoder

__all__ = [
    "JSCCCodec",
    "JSCCOptions",
    "JSCCEvaluation",
    "block_lengths",
    "opta_distortion",
    "linear_distortion",
    "block_sampler",
    "train_jscc",
    "adapt_decoder",
    "evaluate_jscc",
]


def block_lengths(rho: float, max_source: int = 16) -> tuple[int, int]:
    """(n_source, n_channel): the smallest block of source samples that ``rho`` channel uses per
    sample turn into a whole number of channel symbols, e.g. rho = 1/2 -> (2, 1), rho = 2 -> (1, 2).

    Raises ValueError when rho is not positive or is not p/q with q <= ``max_source``.
    """
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho (channel uses per source sample) must be finite and > 0, got {rho!r}")
    frac = Fraction(rho).limit_denominator(max_source)
    if abs(float(frac) - rho) > 1e-9 * max(1.0, rho):
        raise ValueError(f"rho must be a ratio p/q with q <= {max_source} (e.g. 0.5, 1, 2), got {rho!r}")
    return frac.denominator, frac.numerator


def opta_distortion(variance: float, snr: float, rho: float) -> float:
    """OPTA of a Gaussian source of variance s^2 over AWGN with rho channel uses per sample:
    R(D) = rho C gives D = s^2 / (1 + SNR)^rho (Shannon; Goblick 1965; Gastpar et al. 2003). SNR linear."""
    if not (variance > 0 and snr >= 0 and rho > 0):
        raise ValueError(f"need variance > 0, snr >= 0, rho > 0; got {variance}, {snr}, {rho}")
    return variance * (1.0 + snr) ** (-rho)


def linear_distortion(variance: float, snr: float, rho: float) -> float:
    """The best linear (uncoded) analog scheme for an i.i.d. Gaussian source (derived here):
    rho >= 1: each sample spread over rho channel uses with total power rho P, D = s^2 / (1 + rho SNR);
    rho < 1: a fraction rho of the samples sent uncoded, the rest dropped,
    D = s^2 (rho / (1 + SNR) + 1 - rho). At rho = 1 both are Goblick's uncoded transmission (= OPTA).
    """
    if rho >= 1:
        return variance / (1.0 + rho * snr)
    return variance * (rho / (1.0 + snr) + 1.0 - rho)


@dataclass
class JSCCOptions:
    """Options of :class:`JSCCCodec`."""

    n_source: int = field(default=1, metadata={"help": "source values per block"})
    n_channel: int = field(default=1, metadata={"help": "channel uses per block"})
    channel: str = field(default="awgn", metadata={"help": "the training channel (ibflow.CHANNELS)"})
    channel_options: dict = field(
        default_factory=lambda: {"snr_db": 10.0}, metadata={"help": "the channel's snr_db and options, JSON", "parse": json.loads}
    )
    samples_per_block: int | None = field(default=None, metadata={"help": "source samples per block (default n_source)"})
    depth: int = 2
    hidden: int = 32
    spline_bins: int | None = 8
    decoder_hidden: int = 64
    decoder_depth: int = 2
    power: float = field(default=1.0, metadata={"help": "power constraint P"})
    power_mode: Literal["average", "block"] = "average"
    use_state: bool = field(default=True, metadata={"help": "give the decoder the channel state (CSIR)"})
    init_noise: float = 0.0
    lift: Literal["tile", "mlp"] = "mlp"


@register_codec("jscc", options=JSCCOptions, tags=("jscc",))
class JSCCCodec(nn.Module):
    """Analog joint source-channel codec: ``n_source`` source values -> ``n_channel`` channel uses.

    Transmitter: a source flow f (as in :class:`ibflow.FlowCodec`) gives the latent u = f(x); a
    channel-aware flow g, trained through the channel, maps it to symbols. For n_channel > n_source
    the latent is lifted to width n_channel first: with ``lift="mlp"`` (default) as the graph
    (u, m(u)) of a small MLP m, a nonlinear curve in R^n_channel that g bends further (the idea of
    Shannon-Kotel'nikov mappings), with ``lift="tile"`` by repetition (the best linear expansion; in
    our runs training never left that line). For n_channel < n_source the first n_channel outputs of
    g are sent (g starts from sending a subset, the best linear compression, and learns to fold). :class:`PowerNormalization` then enforces
    E ||s||^2 / n_channel <= P. Receiver: :class:`ibflow.vector.LearnedDecoder` on the channel output (and the
    channel state, CSIR, if ``use_state`` and the channel has one).

    It spends no rate (rho fixes the channel uses), so ``forward`` returns ``{"x_hat", "distortion"}``
    and no rate: :func:`ibflow.train` minimises the distortion it reports (per source sample).

    Arguments:
        n_source: source values per block (block of source samples times source dimension).
        n_channel: channel uses per block.
        channel: the training channel, or its registered name (built with ``channel_options``:
            ``snr_db`` and the channel's options).
        samples_per_block: source samples per block (distortion is per sample, summed over dims).
        depth, hidden, spline_bins: passed to :func:`ibflow.flows.build_vector_flow` for f and g.
        decoder_hidden, decoder_depth: the decoder MLP.
        power, power_mode: see :class:`PowerNormalization`.
        use_state: give the decoder the channel state.
        source_flow: a trained source flow (e.g. ``FlowCodec.encoder``) to use as f.
        init_noise: std of Gaussian noise added to g's initial weights (0: start from the linear map).
        lift: ``"tile"`` or ``"mlp"``, how the latent is widened when n_channel > n_source.

    Example:
        >>> codec = JSCCCodec(2, 1, "awgn", channel_options={"snr_db": 10.0})
        >>> codec.data_init(torch.randn(512, 2))
        >>> out = codec(torch.randn(256, 2))
        >>> out["x_hat"].shape, out["distortion"].shape
        (torch.Size([256, 2]), torch.Size([256]))
    """

    def __init__(
        self,
        n_source: int,
        n_channel: int,
        channel: Channel | str = "awgn",
        samples_per_block: int | None = None,
        depth: int = 2,
        hidden: int = 32,
        spline_bins: int | None = 8,
        decoder_hidden: int = 64,
        decoder_depth: int = 2,
        power: float = 1.0,
        power_mode: str = "average",
        use_state: bool = True,
        source_flow: Flow | None = None,
        init_noise: float = 0.0,
        lift: str = "mlp",
        channel_options: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if not isinstance(channel, str) and channel_options is not None:
            raise ValueError("channel_options go with a channel name, not with a channel object")
        built: Channel = get_channel(channel, **dict(channel_options or {"snr_db": 10.0})) if isinstance(channel, str) else channel
        for name, value in (("n_source", n_source), ("n_channel", n_channel)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        samples_per_block = n_source if samples_per_block is None else samples_per_block
        if samples_per_block < 1 or n_source % samples_per_block:
            raise ValueError(f"samples_per_block must divide n_source={n_source}, got {samples_per_block}")
        self.n_source, self.n_channel, self.samples_per_block = n_source, n_channel, samples_per_block
        self.width = max(n_source, n_channel)
        self.encoder: Flow = source_flow or build_vector_flow(
            n_source, depth=depth, hidden=hidden, spline_bins=spline_bins
        )
        self.mapping: Flow = build_vector_flow(self.width, depth=depth, hidden=hidden, spline_bins=spline_bins)
        if init_noise < 0:
            raise ValueError(f"init_noise must be >= 0, got {init_noise}")
        if init_noise > 0:
            # A random, nonlinear start (seeded by the caller's torch seed; ActNorm parameters are reset
            # by data_init anyway). Used by the tests to show that training, not the initialisation,
            # reaches OPTA at rho = 1. For rho = 2 it did not help: from a tiled latent training went
            # back to the straight line (repetition) even with init_noise = 1; the MLP lift did not.
            with torch.no_grad():
                for parameter in self.mapping.parameters():
                    parameter.add_(init_noise * torch.randn_like(parameter))
        if lift not in ("tile", "mlp"):
            raise ValueError(f"lift must be 'tile' or 'mlp', got {lift!r}")
        self.lift = None
        if lift == "mlp" and n_channel > n_source:
            # The graph (u, m(u)) of an MLP m: an injective, nonlinear start for bandwidth expansion.
            self.lift = nn.Sequential(nn.Linear(n_source, hidden), nn.Tanh(), nn.Linear(hidden, n_channel - n_source))
        self.power_norm = PowerNormalization(power, power_mode)  # type: ignore[arg-type]
        self.channel: Channel = built
        self.use_state = bool(use_state)
        state_width = n_channel if self.use_state and self._channel_has_state(built) else 0
        self.decoder = LearnedDecoder(n_source, decoder_hidden, decoder_depth, in_features=n_channel + state_width)
        self.transmitter_frozen = False
        self._config: dict[str, Any] = dict(
            n_source=n_source, n_channel=n_channel, samples_per_block=samples_per_block, depth=depth, hidden=hidden,
            spline_bins=spline_bins, decoder_hidden=decoder_hidden, decoder_depth=decoder_depth, power=power,
            power_mode=power_mode, use_state=use_state, init_noise=init_noise, lift=lift,
        )

    @property
    def config(self) -> dict[str, Any]:
        """The options that rebuild this codec, with its current channel by name (a ``source_flow``
        given to the constructor is rebuilt by shape: its weights are in the state dict)."""
        channel = {"channel": getattr(type(self.channel), "registered_name", None), "channel_options": self.channel.config}
        if channel["channel"] is None:
            raise ValueError(f"channel {type(self.channel).__name__} is not registered (ibflow.register_channel)")
        return {**self._config, **channel}

    @staticmethod
    def _channel_has_state(channel: Channel) -> bool:
        return channel(torch.zeros(1, 1), torch.Generator().manual_seed(0)).state is not None

    @property
    def rho(self) -> float:
        """Channel uses per source sample."""
        return self.n_channel / self.samples_per_block

    def set_channel(self, channel: Channel) -> None:
        """Use another channel (e.g. the same kind at a test SNR)."""
        if self._channel_has_state(channel) != self._channel_has_state(self.channel):
            raise ValueError("the new channel must provide channel state exactly when the old one did")
        self.channel = channel

    def transmitter_modules(self) -> list[nn.Module]:
        """Everything between the source and the channel (all of it must be frozen together: a trainable
        part after the frozen power scale could raise the transmitted power without bound)."""
        modules: list[nn.Module] = [self.encoder, self.mapping, self.power_norm]
        return modules + ([self.lift] if self.lift is not None else [])

    def freeze_transmitter(self) -> None:
        """Fix f, g and the power scale (they stay in eval mode and get no gradients): the receiver
        adapts to a channel the transmitter was not designed for."""
        for module in self.transmitter_modules():
            module.requires_grad_(False)
        self.transmitter_frozen = True
        self.train(self.training)

    def train(self, mode: bool = True) -> JSCCCodec:
        super().train(mode)
        if self.transmitter_frozen:
            for module in self.transmitter_modules():
                module.eval()
        return self

    def symbols_unnormalised(self, x: Tensor) -> Tensor:
        """g(f(x)) before power normalisation, shape (n, n_channel)."""
        if x.dim() != 2 or x.shape[1] != self.n_source:
            raise ValueError(f"expected source blocks of shape (n, {self.n_source}), got {tuple(x.shape)}")
        u = self.encoder(x)[0]
        if self.lift is not None:
            u = torch.cat([u, self.lift(u)], 1)
        elif self.n_channel > self.n_source:
            reps = -(-self.n_channel // self.n_source)
            u = u.repeat(1, reps)[:, : self.n_channel]
        return self.mapping(u)[0][:, : self.n_channel]

    def encode(self, x: Tensor) -> Tensor:
        """Channel symbols meeting the power constraint, shape (n, n_channel)."""
        return self.power_norm(self.symbols_unnormalised(x))

    def decoder_input(self, out: ChannelOutput) -> Tensor:
        if self.use_state and out.state is not None:
            return torch.cat([out.y, out.state], 1)
        return out.y

    def decode(self, out: ChannelOutput) -> Tensor:
        """x_hat from what the receiver sees."""
        return self.decoder(self.decoder_input(out))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Through the channel: ``{"x_hat": reconstruction, "distortion": squared error per source
        sample, per block}`` (no rate: the channel uses are fixed)."""
        x_hat = self.decode(self.channel(self.encode(x), generator))
        return {"x_hat": x_hat, "distortion": self.distortion_per_block(x, x_hat)}

    def distortion_per_block(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """Squared error per source sample (summed over its dimensions), averaged within each block."""
        return (x - x_hat).pow(2).sum(1) / self.samples_per_block

    @torch.no_grad()
    def data_init(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """ActNorm initialisation of f and g on one batch, the power scale from it, then the decoder's
        affine part by least squares of x on the received values: the LMMSE decoder of the initial
        mapping (why: see :meth:`ibflow.noisy.NoisyLatentModule.data_init`). With a frozen transmitter only the
        decoder is re-initialised, for the current channel."""
        was_training = self.training
        self.train()
        raw = self.symbols_unnormalised(x)
        if not self.transmitter_frozen:
            self.power_norm.calibrate(raw)
        self.power_norm.eval()
        self.decoder.fit_affine(self.decoder_input(self.channel(self.power_norm(raw), generator)), x)
        self.train(was_training)

    @torch.no_grad()
    def calibrate_power(self, x: Tensor, margin_se: float = 3.0) -> None:
        """Set the evaluation power scale from a large batch of source blocks, ``margin_se`` standard
        errors on the safe side (:meth:`ibflow.channel.PowerNormalization.calibrate`): the constraint
        E ||s||^2 / k <= P then holds for the deployed encoder with probability about 99.9 %."""
        self.power_norm.calibrate(self.symbols_unnormalised(x), margin_se)


def block_sampler(sample: Sampler, samples_per_block: int) -> Sampler:
    """Turn a source sampler (n, seed) -> (n, dim) into one of blocks (n, samples_per_block * dim)."""

    def blocks(n: int, seed: int) -> Tensor:
        x = sample(n * samples_per_block, seed)
        return x.reshape(n, -1)

    return blocks


def train_jscc(
    codec: JSCCCodec, sample_blocks: Sampler, config: TrainConfig | None = None, progress: bool = True,
    calibration_samples: int = 2**19,
) -> TrainResult:
    """Train end to end through ``codec.channel`` with :func:`ibflow.train` (seeded, Adam with
    cosine decay, divergence guard; the codec spends no rate, so the loop minimises its distortion), then fix the evaluation power scale
    on ``calibration_samples`` fresh blocks (a seed the training never drew), 3 standard errors on the
    safe side."""
    cfg = replace(config or TrainConfig(), schedule="constant")
    result = train(codec, sample_blocks, 1.0, cfg, progress=progress)
    codec.calibrate_power(sample_blocks(calibration_samples, cfg.seed * 1_000_003 - 1))
    codec.eval()
    return result


def adapt_decoder(
    codec: JSCCCodec, channel: Channel, sample_blocks: Sampler, config: TrainConfig | None = None,
    progress: bool = False,
) -> JSCCCodec:
    """A copy of ``codec`` whose receiver is re-trained for ``channel`` (e.g. another SNR) while the
    transmitter stays as designed: the receiver knows its channel (CSIR), the transmitter does not.
    The decoder restarts from the LMMSE decoder for the new channel (:meth:`JSCCCodec.data_init`)."""
    adapted = copy.deepcopy(codec)
    adapted.set_channel(channel)
    adapted.freeze_transmitter()
    cfg = replace(config or TrainConfig(steps=300), schedule="constant")
    train(adapted, sample_blocks, 1.0, cfg, progress=progress)  # type: ignore[arg-type]
    adapted.eval()
    return adapted


@dataclass
class JSCCEvaluation:
    """Distortion per source sample on fresh test data, with its 95 % confidence interval from the
    standard error of the per-block squared errors (blocks are i.i.d.), and the measured power."""

    distortion: float
    distortion_se: float
    distortion_ci: tuple[float, float]
    power: float
    power_se: float
    n_blocks: int


@torch.no_grad()
def evaluate_jscc(
    codec: JSCCCodec, sample_blocks: Sampler, n_blocks: int, seed: int, channel: Channel | None = None,
    batch: int = 65_536,
) -> JSCCEvaluation:
    """Mean distortion of ``codec`` over ``n_blocks`` fresh blocks through ``channel`` (default: its own)."""
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2, got {n_blocks}")
    codec.eval()
    channel = channel or codec.channel
    gen = torch.Generator().manual_seed(seed)
    errors, powers = [], []
    for i, start in enumerate(range(0, n_blocks, batch)):
        x = sample_blocks(min(batch, n_blocks - start), seed * 7_919 + i)
        s = codec.encode(x)
        x_hat = codec.decode(channel(s, gen))
        errors.append(codec.distortion_per_block(x, x_hat).double())
        powers.append(s.double().pow(2).mean(1))
    err, pw = torch.cat(errors), torch.cat(powers)
    d = float(err.mean())
    se = float(err.std() / math.sqrt(len(err)))
    return JSCCEvaluation(
        distortion=d,
        distortion_se=se,
        distortion_ci=(d - Z_95 * se, d + Z_95 * se),
        power=float(pw.mean()),
        power_se=float(pw.std() / math.sqrt(len(pw))),
        n_blocks=len(err),
    )

