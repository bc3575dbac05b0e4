"""Joint source-channel coding: analog flow codecs through a channel; separation baseline (FlowCodec bitstream)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable

import torch
from torch import Tensor, nn

from ibflow.channels import Channel, ChannelOutput, PowerNormalization, awgn_capacity
from ibflow.codec import CodecLoss, LearnedDecoder, FlowCodec
from ibflow.entropy_coding import StandardNormalBins
from ibflow.layers import Flow, build_vector_flow
from ibflow.rates import BinnedMeasurement, matched_bin_width, measure_binned
from ibflow.train import TrainConfig, TrainResult, train

__all__ = [
    "JSCCCodec",
    "JSCCEvaluation",
    "block_lengths",
    "opta_distortion",
    "separation_distortion",
    "SeparationCodec",
    "fit_bin_width",
    "train_separation_codec",
    "linear_distortion",
    "block_sampler",
    "train_jscc",
    "adapt_decoder",
    "evaluate_jscc",
    "Z_95",
]

Sampler = Callable[[int, int], Tensor]  # (n, seed) -> samples (n, dim)

# Two-sided 95 % normal quantile for the confidence intervals on distortion.
Z_95 = 1.959963984540054


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


def separation_distortion(
    variance: float, snr: float, design_snr: float, rho: float, source_distortion: float | None = None
) -> float:
    """Separate source and channel coding designed for ``design_snr`` (linear), used at ``snr``.

    The channel code carries R = rho C(design SNR) nats per source sample; an ideal (capacity-achieving,
    infinite block length) code decodes without error when SNR >= design SNR and fails completely
    below (the cliff; the decoder then outputs the source mean, D = s^2). Above the cliff the distortion
    is that of the source code at rate R: ``source_distortion`` if given (e.g. the measured distortion of
    a real bitstream of at most R nats per sample, :func:`train_separation_codec`), else the ideal
    Gaussian one, D(R) = s^2 e^{-2R} (Cover & Thomas 2nd ed., Thm 10.3.2): an optimistic baseline, at
    the design SNR it equals OPTA.
    """
    if snr < design_snr:
        return variance
    if source_distortion is not None:
        return source_distortion
    rate = rho * awgn_capacity(design_snr)
    return variance * math.exp(-2.0 * rate)


@dataclass
class SeparationCodec:
    """The source half of a separation baseline: a trained :class:`ibflow.FlowCodec` whose real ANS
    bitstream (:func:`ibflow.rates.measure_binned`) fits a channel code of ``rate_limit`` nats per sample.

    ``rate`` (nats per sample, from the byte length of the test bitstream) and ``distortion`` (squared
    error per sample of the reconstruction from the decoded symbols, with its standard error and 95 %
    interval over the i.i.d. test samples) are measured on ``n_test`` fresh samples that neither training
    nor the choice of beta and bin width saw. ``rounds`` records each training: beta, the design-set rate
    at the matched bin width, the fitted bin width and the design-set rate and distortion with it.
    """

    codec: FlowCodec
    beta: float
    rate_limit: float
    bin_width: float
    rate: float
    distortion: float
    distortion_se: float
    distortion_ci: tuple[float, float]
    decoded_exactly: bool
    n_bytes: int
    n_test: int
    train_seconds: float
    rounds: list[dict[str, float]]


@torch.no_grad()
def fit_bin_width(codec: FlowCodec, x: Tensor, rate_limit: float, iterations: int = 40) -> float:
    """The narrowest bin width (one for all latent dimensions) in the prior's base space at which the
    ideal code length -log P(bins) of ``x`` (nats per sample, :class:`ibflow.entropy_coding.StandardNormalBins`)
    is at most ``rate_limit``: bisection in log width (the code length falls as the bins widen)."""
    u = codec.prior(codec.encode(x))[0].double()

    def rate(delta: float) -> float:
        bins = StandardNormalBins(delta)
        return float(-bins.log_pmf(bins.index(u)).sum(-1).mean())

    lo, hi = math.log(1e-4), math.log(1e3)  # rates about 9 nats per dim and 0
    if rate(math.exp(hi)) > rate_limit:
        raise ValueError(f"rate_limit {rate_limit:.4g} nats is below the rate of the widest bins")
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rate(math.exp(mid)) > rate_limit else (lo, mid)
    return math.exp(hi)


def train_separation_codec(
    sample: Sampler,
    variance: float,
    rate_limit: float,
    config: TrainConfig | None = None,
    max_rounds: int = 3,
    n_design: int = 2**18,
    n_test: int = 2**18,
    seed: int = 0,
    depth: int = 2,
    hidden: int = 32,
    progress: bool = False,
) -> SeparationCodec:
    """Train a :class:`ibflow.FlowCodec` on a scalar source (``sample(n, seed) -> (n, 1)``, variance
    ``variance``) whose real bitstream carries at most ``rate_limit`` nats per sample: the source code of
    separate source-channel coding over a channel code of that rate.

    The first beta is the Gaussian theory's, beta = 2 D(R) = 2 s^2 e^{-2R} at R = ``rate_limit``; a
    trained codec's bitstream at the matched bin width (:func:`ibflow.rates.matched_bin_width`) is longer
    than its KL rate by the loss of binning, so beta is raised by the Gaussian slope,
    beta <- beta e^{2 (rate - rate_limit)}, and the codec retrained, up to ``max_rounds`` trainings
    (stopping once the matched rate is within 0.01 nats of the limit). In every round the bin width
    is then fitted (:func:`fit_bin_width`) so that the design-set code length is the limit less a margin:
    3 standard errors of the difference of two sample means of the code length, plus 64 bits of
    coder overhead per test stream; the round with the least design-set distortion is kept. Finally the
    kept codec is measured on ``n_test`` fresh samples: the bytes of a real constriction ANS stream,
    decoded and checked symbol for symbol (:func:`ibflow.rates.measure_binned`).

    Raises ValueError if the test bitstream still exceeds ``rate_limit`` (improbable: the margin is
    3 standard errors) or training cannot reach a rate that low.
    """
    if not (variance > 0 and rate_limit > 0 and max_rounds >= 1):
        raise ValueError(
            f"need variance > 0, rate_limit > 0, max_rounds >= 1; got {variance}, {rate_limit}, {max_rounds}"
        )
    cfg = config or TrainConfig()
    x_design = sample(n_design, seed * 1_000_003 + 2**20 + 1)
    x_test = sample(n_test, seed * 1_000_003 + 2**20 + 2)
    overhead = 64 * math.log(2) / n_test  # ANS: the final state and the last 32-bit word
    beta = 2.0 * variance * math.exp(-2.0 * rate_limit)
    best: tuple[float, FlowCodec, float, float] | None = None
    rounds: list[dict[str, float]] = []
    seconds = 0.0
    for _ in range(max_rounds):
        torch.manual_seed(cfg.seed)
        codec = FlowCodec(1, depth=depth, hidden=hidden)
        seconds += train(codec, sample, beta, cfg, progress=progress).seconds
        codec.eval()
        matched = measure_binned(codec, x_design, delta=matched_bin_width(codec, x_design, seed=seed))
        se = matched.rate_binned.se
        target = rate_limit - 3.0 * math.sqrt(2.0) * se - overhead
        delta = fit_bin_width(codec, x_design, target)
        fitted = measure_binned(codec, x_design, delta=delta)
        rounds.append({
            "beta": beta, "rate_matched": matched.rate_binned.value, "bin_width": delta,
            "rate": fitted.rate_binned.value, "distortion": fitted.distortion_binned.value,
        })
        if best is None or fitted.distortion_binned.value < best[0]:
            best = (fitted.distortion_binned.value, codec, beta, delta)
        excess = matched.rate_binned.value - rate_limit
        if abs(excess) < 0.01:
            break
        beta *= math.exp(2.0 * excess)
    assert best is not None
    _, codec, beta, delta = best
    test: BinnedMeasurement = measure_binned(codec, x_test, delta=delta)
    if test.rate_coded > rate_limit:
        raise ValueError(f"the test bitstream has {test.rate_coded:.5f} nats per sample, above the limit "
                         f"{rate_limit:.5f}; increase n_design")
    d = test.distortion_binned  # decoding the received symbols gives the same bins when decoded exactly
    return SeparationCodec(
        codec=codec, beta=beta, rate_limit=rate_limit, bin_width=delta, rate=test.rate_coded,
        distortion=test.distortion_coded if test.decoded_exactly else math.nan,
        distortion_se=d.se, distortion_ci=(test.distortion_coded - Z_95 * d.se, test.distortion_coded + Z_95 * d.se),
        decoded_exactly=test.decoded_exactly, n_bytes=test.n_bytes, n_test=n_test, train_seconds=seconds,
        rounds=rounds,
    )


def linear_distortion(variance: float, snr: float, rho: float) -> float:
    """The best linear (uncoded) analog scheme for an i.i.d. Gaussian source (derived here):
    rho >= 1: each sample spread over rho channel uses with total power rho P, D = s^2 / (1 + rho SNR);
    rho < 1: a fraction rho of the samples sent uncoded, the rest dropped,
    D = s^2 (rho / (1 + SNR) + 1 - rho). At rho = 1 both are Goblick's uncoded transmission (= OPTA).
    """
    if rho >= 1:
        return variance / (1.0 + rho * snr)
    return variance * (rho / (1.0 + snr) + 1.0 - rho)


class JSCCCodec(nn.Module):
    """Analog joint source-channel codec: ``n_source`` source values -> ``n_channel`` channel uses.

    Transmitter: a source flow f (as in :class:`ibflow.FlowCodec`) gives the latent u = f(x); a
    channel-aware flow g, trained through the channel, maps it to symbols. For n_channel > n_source
    the latent is lifted to width n_channel first: with ``lift="mlp"`` (default) as the graph
    (u, m(u)) of a small MLP m, a nonlinear curve in R^n_channel that g bends further (the idea of
    Shannon-Kotel'nikov mappings), with ``lift="tile"`` by repetition (the best linear expansion; in
    our runs training never left that line). For n_channel < n_source the first n_channel outputs of
    g are sent (g starts from sending a subset, the best linear compression, and learns to fold). :class:`PowerNormalization` then enforces
    E ||s||^2 / n_channel <= P. Receiver: :class:`ibflow.codec.LearnedDecoder` on the channel output (and the
    channel state, CSIR, if ``use_state`` and the channel has one).

    ``loss`` returns a :class:`ibflow.codec.CodecLoss` whose rate is 0 (the rate is fixed by rho), so
    :func:`ibflow.train.train` trains it unchanged (beta has no effect).

    Arguments:
        n_source: source values per block (block of source samples times source dimension).
        n_channel: channel uses per block.
        channel: the training channel.
        samples_per_block: source samples per block (distortion is per sample, summed over dims).
        depth, hidden, spline_bins: passed to :func:`ibflow.layers.build_vector_flow` for f and g.
        decoder_hidden, decoder_depth: the decoder MLP.
        power, power_mode: see :class:`PowerNormalization`.
        use_state: give the decoder the channel state.
        source_flow: a trained source flow (e.g. ``FlowCodec.encoder``) to use as f.
        init_noise: std of Gaussian noise added to g's initial weights (0: start from the linear map).
        lift: ``"tile"`` or ``"mlp"``, how the latent is widened when n_channel > n_source.

    Example:
        >>> from ibflow.channels import AWGNChannel
        >>> codec = JSCCCodec(2, 1, AWGNChannel(10.0))
        >>> codec.data_init(torch.randn(512, 2))
        >>> codec.loss(torch.randn(256, 2), beta=1.0).distortion.shape
        torch.Size([])
    """

    def __init__(
        self,
        n_source: int,
        n_channel: int,
        channel: Channel,
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
    ):
        super().__init__()
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
        self.channel = channel
        self.use_state = bool(use_state)
        state_width = n_channel if self.use_state and self._channel_has_state(channel) else 0
        self.decoder = LearnedDecoder(n_source, decoder_hidden, decoder_depth, in_features=n_channel + state_width)
        self.transmitter_frozen = False
        self.config: dict[str, Any] = dict(
            n_source=n_source, n_channel=n_channel, samples_per_block=samples_per_block, depth=depth, hidden=hidden,
            spline_bins=spline_bins, decoder_hidden=decoder_hidden, decoder_depth=decoder_depth, power=power,
            power_mode=power_mode, use_state=use_state, init_noise=init_noise, lift=lift,
        )

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

    def train(self, mode: bool = True) -> "JSCCCodec":
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

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Reconstruction of ``x`` through the channel."""
        return self.decode(self.channel(self.encode(x), generator))

    def distortion_per_block(self, x: Tensor, x_hat: Tensor) -> Tensor:
        """Squared error per source sample (summed over its dimensions), averaged within each block."""
        return (x - x_hat).pow(2).sum(1) / self.samples_per_block

    def loss(self, x: Tensor, beta: float | Tensor = 1.0, generator: torch.Generator | None = None) -> CodecLoss:
        """Distortion through the channel; ``rate`` is 0 and ``beta`` is ignored (kept so that
        :func:`ibflow.train.train` can drive this codec)."""
        distortion = self.distortion_per_block(x, self(x, generator)).mean()
        return CodecLoss(distortion, distortion, torch.zeros((), dtype=distortion.dtype))

    @torch.no_grad()
    def data_init(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """ActNorm initialisation of f and g on one batch, the power scale from it, then the decoder's
        affine part by least squares of x on the received values: the LMMSE decoder of the initial
        mapping (why: see :meth:`ibflow.codec.FlowCodec.data_init`). With a frozen transmitter only the
        decoder is re-initialised, for the current channel."""
        was_training = self.training
        self.train()
        raw = self.symbols_unnormalised(x)
        if not self.transmitter_frozen:
            self.power_norm.calibrate(raw)
        self.power_norm.eval()
        inputs = self.decoder_input(self.channel(self.power_norm(raw), generator))
        ones = torch.ones(len(inputs), 1, dtype=inputs.dtype)
        design = torch.cat([inputs, ones], 1).double()
        target = x.double() - self.decoder.mlp(inputs).double()
        sol = torch.linalg.lstsq(design, target).solution
        self.decoder.affine.weight.copy_(sol[:-1].T)
        self.decoder.affine.bias.copy_(sol[-1])
        self.train(was_training)

    @torch.no_grad()
    def calibrate_power(self, x: Tensor, margin_se: float = 3.0) -> None:
        """Set the evaluation power scale from a large batch of source blocks, ``margin_se`` standard
        errors on the safe side (:meth:`ibflow.channels.PowerNormalization.calibrate`): the constraint
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
    """Train end to end through ``codec.channel`` with :func:`ibflow.train.train` (seeded, Adam with
    cosine decay, divergence guard; beta constant and irrelevant), then fix the evaluation power scale
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

