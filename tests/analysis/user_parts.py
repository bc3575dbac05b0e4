"""A user's own parts, registered nowhere, that the study CLIs must accept as ``module:attribute`` paths.

- :class:`NoisyCopySampler`: a known-MI sampler, y = x + sigma * noise, with its MI in closed form.
- :class:`PlainAWGN`: an AWGN channel written against the ``contracts.Channel`` protocol only (not a
  subclass of ``ibflow.channel.Channel``, returning its own output type).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["NoisyCopySampler", "PlainAWGN", "Received"]


class NoisyCopySampler:
    """x ~ N(0, I_dim), y = x + sigma * eps, eps ~ N(0, I_dim) independent of x.

    Each coordinate is a Gaussian channel with SNR 1 / sigma^2, so I(X; Y) = dim/2 log(1 + 1/sigma^2)
    (Cover & Thomas 2nd ed., eq. 9.16); sigma is chosen to make that ``mi`` nats.
    """

    def __init__(self, mi: float, dim: int = 2):
        if not (mi > 0 and math.isfinite(mi)):
            raise ValueError(f"mi must be finite and > 0, got {mi}")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim_x = self.dim_y = int(dim)
        self.sigma = 1.0 / math.sqrt(math.expm1(2.0 * mi / dim))

    @property
    def mutual_information(self) -> float:
        return 0.5 * self.dim_x * math.log1p(1.0 / self.sigma**2)

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim_x))
        return x, x + self.sigma * rng.standard_normal((n, self.dim_y))


@dataclass
class Received:
    """What :class:`PlainAWGN` delivers: the noisy symbols and no channel state."""

    y: Tensor
    state: Tensor | None = None


class PlainAWGN:
    """y = s + n, n ~ N(0, P / SNR): the AWGN channel, with the OPTA of a Gaussian source as its converse."""

    def __init__(self, snr_db: float, signal_power: float = 1.0):
        self.snr_db = float(snr_db)
        self.signal_power = float(signal_power)

    def __call__(self, s: Tensor, generator: torch.Generator | None = None) -> Received:
        noise_std = math.sqrt(self.signal_power / 10.0 ** (self.snr_db / 10.0))
        return Received(s + noise_std * torch.randn(s.shape, generator=generator, dtype=s.dtype))

    def distortion_ratio_lower_bound(self, n_source: int, n_channel: int) -> float:
        return (1.0 + 10.0 ** (self.snr_db / 10.0)) ** (-n_channel / n_source)
