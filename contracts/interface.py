"""The contracts every part of ibflow keeps: sources, codecs, MI estimators, samplers and channels.

This module imports nothing from ibflow, synthetic, estimators or analysis (the rule cbg-ethz/bmi
keeps for its ``interface.py``), so the contracts can never sit in an import cycle. Users' own
parts need only satisfy these protocols; they need not inherit from anything.

Units: every quantity here is in **nats**; distortion is squared error per sample, summed over
dimensions, unless a name says ``_per_dim`` (DESIGN.md, "Contracts").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # typing only: importing torch or numpy here would make the contracts heavy
    import numpy as np
    from torch import Generator, Tensor

__all__ = [
    "RDBound",
    "Estimate",
    "CodecLoss",
    "BitstreamError",
    "Sampler",
    "Source",
    "TabulatedSource",
    "SplitSource",
    "Codec",
    "NoisyLatentCodec",
    "TrainableCodec",
    "MIEstimator",
    "KnownMISampler",
    "Channel",
]


@dataclass(frozen=True)
class RDBound:
    """Bounds on R(D) in nats; ``lower == upper`` where R(D) is known exactly.

    Example:
        >>> b = RDBound(0.5, 0.5); b.exact, b.mid
        (True, 0.5)
    """

    lower: float
    upper: float

    @property
    def exact(self) -> bool:
        return self.lower == self.upper

    @property
    def mid(self) -> float:
        return 0.5 * (self.lower + self.upper)


@dataclass(frozen=True)
class Estimate:
    """An estimate in nats.

    Arguments:
        value: the estimate (nats).
        ci: a (low, high) interval, or ``None`` where the method gives none.
        method: the method name, e.g. ``"ksg"``.
        curve: training values (one per step) for trained estimators, else ``None``.
        extra: method-specific details (how the interval was made, jitter, ...).

    Example:
        >>> Estimate(0.69, (0.6, 0.8), "ksg").ci
        (0.6, 0.8)
    """

    value: float
    ci: tuple[float, float] | None
    method: str
    curve: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CodecLoss:
    """Parts of a training objective, batch means: ``total = distortion + beta * rate``.

    ``distortion`` is in the codec's own unit (squared error summed over dimensions for vector
    codecs, per dimension for image codecs: the codec's docstring says which); ``rate`` is in nats
    (per sample, or per pixel for image codecs), 0 for a codec that spends no rate (analog JSCC).
    ``extra`` holds further named terms a codec wants logged (all batch means).
    """

    total: Tensor
    distortion: Tensor
    rate: Tensor
    extra: dict[str, Tensor] = field(default_factory=dict)


class BitstreamError(ValueError):
    """A bitstream that cannot be what its codec wrote: bad magic, unsupported version, length or
    CRC mismatch, coder not empty at the end, or a codec or config mismatch. Raised instead of
    decoding garbage."""


Sampler = Callable[[int, int], "Tensor"]
"""``(n, seed) -> Tensor (n, dim)``: fresh training samples, the same for the same seed."""


@runtime_checkable
class Source(Protocol):
    """A random vector X in R^dim whose R(D) under squared error (summed over dims) is known or bounded."""

    dim: int

    def sample(self, n: int, seed: int | None = None) -> Tensor:
        """``n`` samples, shape (n, dim); the same seed gives the same samples."""
        ...

    def log_prob(self, x: Any) -> Tensor:
        """log p(x) in nats, shape (n,)."""
        ...

    def rate_distortion(self, D: float) -> RDBound:
        """Bounds on R(D) in nats at distortion D (squared error summed over dims)."""
        ...


@runtime_checkable
class SplitSource(Source, Protocol):
    """A source of finite data (``--source data:...``): its rows are split once into a training and a
    test part, and a study draws its test samples with ``split="test"`` so that no codec is measured
    on rows it was trained on."""

    def sample_split(self, n: int, seed: int | None = None, split: str = "train") -> Tensor:
        """``n`` rows of the ``split`` part ("train": drawn with replacement; "test": without, at most
        all of them), shape (n, dim)."""
        ...


@runtime_checkable
class TabulatedSource(Source, Protocol):
    """A source whose R(D) table can be built by Blahut-Arimoto on a grid: it says where its mass
    lies and gives its log-density on NumPy arrays."""

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) per dimension, holding all but about ``tail`` of the mass."""
        ...

    def log_density_np(self, x: np.ndarray) -> np.ndarray:
        """log p(x) in nats on a float64 array of shape (n, dim)."""
        ...


@runtime_checkable
class Codec(Protocol):
    """CompressAI's ``CompressionModel`` convention, so CompressAI models and users' modules plug in.

    ``forward(x) -> {"x_hat": Tensor, "likelihoods": {name: Tensor}}``; a noisy-latent codec may
    give its per-sample rate in nats as ``"rate"`` instead of likelihoods.
    ``compress(x) -> {"strings": [...], "shape": ...}`` and
    ``decompress(strings, shape) -> {"x_hat": Tensor}``.
    """

    def forward(self, x: Tensor) -> Mapping[str, Any]: ...

    def compress(self, x: Tensor) -> Mapping[str, Any]: ...

    def decompress(self, strings: Sequence[Any], shape: Any) -> Mapping[str, Any]: ...


@runtime_checkable
class TrainableCodec(Protocol):
    """A codec with its own objective: ``loss(x, beta, generator) -> CodecLoss``. Codecs without one
    are trained on the objective their ``forward`` implies (distortion + beta * rate)."""

    def loss(self, x: Tensor, beta: float, generator: Generator | None = None) -> CodecLoss: ...


@runtime_checkable
class FittedCodec(Protocol):
    """A codec that fits itself to training samples (Lloyd's algorithm, a step search, a closed form)
    instead of, or before, gradient steps: ``fit(x, beta)`` with x of shape (n, dim) and the
    Lagrangian ``D + beta * R`` (R in nats per sample). The studies call it once per point, before
    any gradient training; a codec with no trainable parameters is then measured as it is."""

    def fit(self, x: Tensor, beta: float) -> None: ...


@runtime_checkable
class CodingPreparedCodec(Protocol):
    """A codec whose coding state is built from samples once training is done, e.g. an entropy model
    fitted to its trained latents (a dithered FlowCodec): ``prepare_coding(x)``, x of shape (n, dim).
    The studies call it after gradient training, before any ``compress``."""

    def prepare_coding(self, x: Tensor) -> None: ...


@runtime_checkable
class NoisyLatentCodec(Protocol):
    """A codec trained without quantization: z = f(x) + sigma * eps, q(z|x) = N(f(x), sigma^2 I),
    and a prior p(z). Its rate E_x KL(q(z|x) || p(z)) bounds I(X; Z) from above (DESIGN.md)."""

    @property
    def sigma(self) -> Tensor: ...

    def encode(self, x: Tensor) -> Tensor:
        """The latent mean f(x)."""
        ...

    def sample_latent(self, x: Tensor, generator: Generator | None = None) -> tuple[Tensor, Tensor]:
        """(f(x), z = f(x) + sigma * eps)."""
        ...

    def decode(self, z: Tensor) -> Tensor: ...

    def prior_log_prob(self, z: Tensor) -> Tensor: ...

    def kl_per_sample(self, z: Tensor) -> Tensor:
        """One-sample Monte-Carlo estimate of KL(q(z|x) || p(z)) per row, nats."""
        ...


@runtime_checkable
class MIEstimator(Protocol):
    """Anything with ``estimate(x, y) -> Estimate`` (benchmark-mi style)."""

    def estimate(self, x: Any, y: Any) -> Estimate: ...


@runtime_checkable
class KnownMISampler(Protocol):
    """A sampler of (x, y) pairs that knows its own mutual information in nats (bmi's task)."""

    dim_x: int
    dim_y: int

    @property
    def mutual_information(self) -> float: ...

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class Channel(Protocol):
    """A memoryless (or block-memoryless) channel for real symbols of shape (n, k).

    ``snr_db`` is 10 log10(P / N) with P the transmitter's power constraint; the channel knows the
    converse every codec on it must respect: a lower bound on D / variance for an i.i.d. Gaussian
    source whose ``n_source`` components are sent in ``n_channel`` channel uses.
    """

    snr_db: float
    signal_power: float

    def __call__(self, s: Tensor, generator: Generator | None = None) -> Any: ...

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float: ...
