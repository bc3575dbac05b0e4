"""Channels as layers for joint source-channel coding: power normalisation, AWGN, Rayleigh block fading, erasures."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from ibflow.registry import register_channel

__all__ = [
    "Channel",
    "ChannelOutput",
    "PowerNormalization",
    "AWGNChannel",
    "RayleighBlockFadingChannel",
    "ErasureChannel",
    "AWGNOptions",
    "RayleighOptions",
    "ErasureOptions",
    "awgn_capacity",
    "db_to_linear",
    "linear_to_db",
]

PowerMode = Literal["average", "block"]


def db_to_linear(db: float) -> float:
    """10^(db/10)."""
    return 10.0 ** (db / 10.0)


def linear_to_db(value: float) -> float:
    """10 log10(value); -inf for 0."""
    return 10.0 * math.log10(value) if value > 0 else -math.inf


def awgn_capacity(snr: float) -> float:
    """Capacity of the real AWGN channel per channel use, C = 1/2 log(1 + SNR) nats (Shannon 1948;
    Cover & Thomas 2nd ed., eq. 9.16), SNR = P/N linear."""
    if not snr >= 0:
        raise ValueError(f"snr must be >= 0 (linear), got {snr}")
    return 0.5 * math.log1p(snr)


def _check_snr_db(snr_db: float) -> float:
    snr_db = float(snr_db)
    if not math.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite, got {snr_db}")
    return snr_db


def _check_counts(n_source: int, n_channel: int) -> None:
    if n_source < 1 or n_channel < 1:
        raise ValueError(f"n_source and n_channel must be >= 1, got {n_source}, {n_channel}")


@dataclass
class ChannelOutput:
    """What the receiver sees: ``y`` (same shape as the input symbols) and the channel state known
    at the receiver (CSIR), shape like ``y``: the fading gain of each symbol, the 0/1 "received"
    mask of an erasure channel, or ``None`` (AWGN)."""

    y: Tensor
    state: Tensor | None = None


class PowerNormalization(nn.Module):
    """Enforces the transmitter's power constraint ``E ||s||^2 / k <= P`` on symbols ``s`` of shape (n, k).

    - ``"average"``: the average power constraint (Shannon's, over the code book). In training the
      batch is scaled so that its mean power is exactly ``P``; in evaluation a fixed scale is used,
      the one of the last :meth:`calibrate` call (or a running average of training batches), so that
      the encoder is one deterministic map and the power on fresh data is ``P`` up to sampling error
      (or below ``P`` with high probability, with a calibration margin).
    - ``"block"``: every codeword (row) is scaled to ``||s||^2 = k P`` exactly (as in deep JSCC,
      Bourtsoulatze et al. 2019, arXiv 1809.01733, eq. 2). Stricter, but with k = 1 it turns every
      symbol into +-sqrt(P), so it is no use for scalar analog mappings.

    Arguments:
        power: the constraint ``P`` (> 0).
        mode: ``"average"`` or ``"block"``.
        momentum: weight of a new training batch in the running power estimate.

    Example:
        >>> norm = PowerNormalization(power=1.0)
        >>> s = norm(3 * torch.randn(1000, 2))
        >>> round(float(s.pow(2).mean()), 6)
        1.0
    """

    running_power: Tensor

    def __init__(self, power: float = 1.0, mode: PowerMode = "average", momentum: float = 0.05):
        super().__init__()
        if not (math.isfinite(power) and power > 0):
            raise ValueError(f"power must be finite and > 0, got {power}")
        if mode not in ("average", "block"):
            raise ValueError(f"mode must be 'average' or 'block', got {mode!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum}")
        self.power = float(power)
        self.mode: PowerMode = mode
        self.momentum = float(momentum)
        self.register_buffer("running_power", torch.tensor(1.0, dtype=torch.float64))

    @torch.no_grad()
    def calibrate(self, s: Tensor, margin_se: float = 0.0) -> None:
        """Set the evaluation scale from the un-normalised symbols ``s`` (n, k) of a large batch.

        The mean power of ``s`` is an estimate; ``margin_se`` > 0 scales as if the power were that many
        standard errors (over the rows) higher, so that the true average power stays below ``P`` with
        high probability (3: about 99.9 %) at a cost of about ``margin_se`` relative standard errors of
        power."""
        row_power = s.double().pow(2).mean(1)
        mean = float(row_power.mean())
        se = float(row_power.std() / math.sqrt(len(row_power))) if len(row_power) > 1 else 0.0
        self.running_power.fill_(mean + margin_se * se)

    def forward(self, s: Tensor) -> Tensor:
        if s.dim() != 2:
            raise ValueError(f"expected symbols of shape (n, k), got {tuple(s.shape)}")
        eps = torch.finfo(s.dtype).tiny
        if self.mode == "block":
            energy = s.pow(2).sum(1, keepdim=True).clamp_min(eps)
            return s * torch.sqrt(s.shape[1] * self.power / energy)
        if self.training:
            batch_power = s.pow(2).mean()
            with torch.no_grad():
                self.running_power.lerp_(batch_power.detach().to(self.running_power.dtype), self.momentum)
            return s * torch.sqrt(self.power / batch_power.clamp_min(eps))
        return s * math.sqrt(self.power / max(float(self.running_power), eps))


class Channel(nn.Module):
    """A memoryless (or block-memoryless) channel for real symbols of shape (n, k), one row per codeword.

    ``snr_db`` is ``10 log10(P / N)`` with ``P = signal_power`` the transmitter's power constraint and
    ``N`` the noise variance per real channel use. Subclasses implement :meth:`forward` and
    :meth:`distortion_ratio_lower_bound`, the converse that every codec on this channel must respect.
    """

    options_type: ClassVar[type]  # the dataclass of the options after snr_db, set by register_channel

    def __init__(self, snr_db: float, signal_power: float = 1.0):
        super().__init__()
        self.snr_db = _check_snr_db(snr_db)
        if not (math.isfinite(signal_power) and signal_power > 0):
            raise ValueError(f"signal_power must be finite and > 0, got {signal_power}")
        self.signal_power = float(signal_power)

    @property
    def snr(self) -> float:
        """Linear SNR P/N."""
        return db_to_linear(self.snr_db)

    @property
    def noise_std(self) -> float:
        """sqrt(N) = sqrt(P / SNR)."""
        return math.sqrt(self.signal_power / self.snr)

    def _noise(self, s: Tensor, generator: torch.Generator | None) -> Tensor:
        eps = torch.randn(s.shape, generator=generator, dtype=s.dtype, device=s.device)
        return self.noise_std * eps

    def forward(self, s: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        raise NotImplementedError

    def with_snr(self, snr_db: float) -> Channel:
        """A copy of this channel at another SNR (the test channel of a mismatched-SNR study)."""
        raise NotImplementedError

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float:
        """Lower bound on D / variance for an i.i.d. Gaussian source whose ``n_source`` components
        are sent with ``n_channel`` uses of this channel (any code, any block length)."""
        raise NotImplementedError

    @property
    def config(self) -> dict[str, Any]:
        """``snr_db`` and the options that rebuild this channel: ``get_channel(name, **config)``."""
        return {"snr_db": self.snr_db, **{f.name: getattr(self, f.name) for f in fields(self.options_type)}}

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db:g}, signal_power={self.signal_power:g}"


@dataclass
class AWGNOptions:
    """Options of :class:`AWGNChannel` (after ``snr_db``)."""

    signal_power: float = field(default=1.0, metadata={"help": "the transmitter's power constraint P"})


@dataclass
class RayleighOptions:
    """Options of :class:`RayleighBlockFadingChannel` (after ``snr_db``)."""

    coherence: int | None = field(default=None, metadata={"help": "symbols per fading block (none: the codeword)"})
    signal_power: float = field(default=1.0, metadata={"help": "the transmitter's power constraint P"})


@dataclass
class ErasureOptions:
    """Options of :class:`ErasureChannel` (after ``snr_db``)."""

    erasure_prob: float = field(default=0.1, metadata={"help": "probability that a symbol is erased"})
    signal_power: float = field(default=1.0, metadata={"help": "the transmitter's power constraint P"})


@register_channel("awgn", options=AWGNOptions)
class AWGNChannel(Channel):
    """y = s + n, n ~ N(0, N I) with N = P / SNR.

    The lower bound is the OPTA of a Gaussian source over AWGN: rate-distortion meets capacity,
    n_source R(D) <= n_channel C, so D / variance >= (1 + SNR)^(-rho) with rho = n_channel / n_source
    (Shannon's separation theorem; Goblick 1965; Gastpar, Rimoldi & Vetterli 2003).

    Example:
        >>> channel = AWGNChannel(snr_db=10.0)
        >>> out = channel(torch.zeros(4, 3))
        >>> out.y.shape, out.state is None
        (torch.Size([4, 3]), True)
    """

    def forward(self, s: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        return ChannelOutput(s + self._noise(s, generator), None)

    def with_snr(self, snr_db: float) -> AWGNChannel:
        return AWGNChannel(snr_db, self.signal_power)

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float:
        _check_counts(n_source, n_channel)
        return (1.0 + self.snr) ** (-n_channel / n_source)


def _expected_fading_factor(snr: float, exponent: float) -> float:
    """E_g[(1 + g SNR)^(-exponent)] for g ~ Exp(1), the power gain of a Rayleigh channel."""
    from scipy import (
        integrate,  # only here: scipy.integrate is slow to import and only this bound needs it
    )

    value, _ = integrate.quad(lambda g: math.exp(-g) * (1.0 + g * snr) ** (-exponent), 0.0, math.inf, limit=200)
    return value


@register_channel(
    "rayleigh", options=RayleighOptions, summary="y = h s + n, the real Rayleigh block-fading channel, gain known at the receiver."
)
class RayleighBlockFadingChannel(Channel):
    """y = h s + n: the real Rayleigh block-fading channel. The amplitude h = sqrt(g), g ~ Exp(1)
    (so E h^2 = 1 and the average SNR is P/N), is constant over ``coherence`` consecutive symbols of
    a codeword (``None``: the whole codeword) and independent between blocks; n ~ N(0, N I).
    The receiver knows h (CSIR, returned as ``state``), the transmitter does not.

    Lower bound: given the gains, n_source R(D) <= sum over symbols of 1/2 log(1 + g SNR); averaging
    D >= variance * exp(-2/n_source * sum ...) over the independent gains gives
    prod_blocks E_g[(1 + g SNR)^(-L_i / n_source)] (L_i the block lengths). Equal power on every
    symbol minimises it (the exponent is Schur-convex within a block and the bound is convex and
    symmetric across blocks of equal length), so it holds for every power allocation. With blocks of
    unequal length the AWGN OPTA at the average SNR is returned instead (valid by Jensen, looser).

    Example:
        >>> channel = RayleighBlockFadingChannel(snr_db=10.0)
        >>> out = channel(torch.ones(5, 4))
        >>> bool((out.state[:, :1] == out.state).all())  # one gain per codeword
        True
    """

    def __init__(self, snr_db: float, coherence: int | None = None, signal_power: float = 1.0):
        super().__init__(snr_db, signal_power)
        if coherence is not None and (isinstance(coherence, bool) or int(coherence) != coherence or coherence < 1):
            raise ValueError(f"coherence must be None or an integer >= 1, got {coherence!r}")
        self.coherence = None if coherence is None else int(coherence)

    def forward(self, s: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        if s.dim() != 2:
            raise ValueError(f"expected symbols of shape (n, k), got {tuple(s.shape)}")
        n, k = s.shape
        length = k if self.coherence is None else self.coherence
        blocks = -(-k // length)
        u = torch.rand(n, blocks, generator=generator, dtype=s.dtype, device=s.device)
        g = -torch.log1p(-u)  # Exp(1) by inversion
        h = g.sqrt().repeat_interleave(length, dim=1)[:, :k]
        return ChannelOutput(h * s + self._noise(s, generator), h)

    def with_snr(self, snr_db: float) -> RayleighBlockFadingChannel:
        return RayleighBlockFadingChannel(snr_db, self.coherence, self.signal_power)

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float:
        _check_counts(n_source, n_channel)
        length = n_channel if self.coherence is None else self.coherence
        if n_channel % length:
            return (1.0 + self.snr) ** (-n_channel / n_source)
        return _expected_fading_factor(self.snr, length / n_source) ** (n_channel // length)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", coherence={self.coherence}"


@register_channel(
    "erasure", options=ErasureOptions, summary="Each symbol erased with probability erasure_prob (known at the receiver), AWGN otherwise."
)
class ErasureChannel(Channel):
    """Each symbol is erased independently with probability ``erasure_prob`` (the receiver gets 0
    and knows which symbols were erased: ``state`` is the 0/1 received mask); the others pass an
    AWGN channel at ``snr_db``.

    Lower bound: given the m received symbols, n_source R(D) <= m C, and averaging
    (1 + SNR)^(-m / n_source) over m ~ Binomial(n_channel, 1 - e) gives
    D / variance >= (e + (1 - e) (1 + SNR)^(-1/n_source))^n_channel; each factor is log-convex in
    the symbol's power, so equal power minimises it and the bound holds for every allocation.

    Example:
        >>> channel = ErasureChannel(snr_db=20.0, erasure_prob=0.25)
        >>> out = channel(torch.ones(1000, 4), torch.Generator().manual_seed(0))
        >>> 0.2 < float(1 - out.state.mean()) < 0.3
        True
    """

    def __init__(self, snr_db: float, erasure_prob: float = 0.1, signal_power: float = 1.0):
        super().__init__(snr_db, signal_power)
        if not 0 <= erasure_prob < 1:
            raise ValueError(f"erasure_prob must lie in [0, 1), got {erasure_prob}")
        self.erasure_prob = float(erasure_prob)

    def forward(self, s: Tensor, generator: torch.Generator | None = None) -> ChannelOutput:
        u = torch.rand(s.shape, generator=generator, dtype=s.dtype, device=s.device)
        received = (u >= self.erasure_prob).to(s.dtype)
        return ChannelOutput(received * (s + self._noise(s, generator)), received)

    def with_snr(self, snr_db: float) -> ErasureChannel:
        return ErasureChannel(snr_db, self.erasure_prob, self.signal_power)

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float:
        _check_counts(n_source, n_channel)
        e = self.erasure_prob
        return (e + (1 - e) * (1.0 + self.snr) ** (-1.0 / n_source)) ** n_channel

    def extra_repr(self) -> str:
        return super().extra_repr() + f", erasure_prob={self.erasure_prob:g}"

