"""Users' parts for the registry tests, found only as ``tests.synthetic.toy_parts:NAME``."""

from __future__ import annotations

import math

import numpy as np
import torch

from contracts.interface import RDBound


class UniformSource:
    """X ~ Uniform[0, width]^dim, with the Shannon lower bound as its lower bound and the
    Gaussian upper bound as its upper bound (a user's source that satisfies the protocol only)."""

    def __init__(self, width: float = 1.0, dim: int = 1) -> None:
        self.width, self.dim = float(width), int(dim)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(0 if seed is None else seed)
        return torch.rand(n, self.dim, generator=g, dtype=torch.float64) * self.width

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        inside = ((x >= 0) & (x <= self.width)).all(-1)
        return torch.where(inside, -self.dim * math.log(self.width), -math.inf)

    def rate_distortion(self, D: float) -> RDBound:
        var = self.width**2 / 12
        per = D / self.dim
        upper = max(0.0, 0.5 * self.dim * math.log(var / per))
        lower = max(0.0, self.dim * (math.log(self.width) - 0.5 * math.log(2 * math.pi * math.e * per)))
        return RDBound(min(lower, upper), upper)

    def params(self) -> dict[str, float]:
        return {"width": self.width, "dim": self.dim}


def independent_pair(mi: float, dim: int = 2) -> object:
    """A factory that cannot honour ``mi`` > 0: it returns an object that is not a sampler."""
    return {"mi": mi, "dim": dim}


class GaussianChannelPair:
    """y = x + noise with x ~ N(0, I), noise ~ N(0, s^2 I): I = dim/2 log(1 + 1/s^2); a user's sampler."""

    def __init__(self, mi: float, dim: int = 2) -> None:
        self.dim_x = self.dim_y = int(dim)
        self.noise = 1.0 / math.sqrt(math.expm1(2.0 * mi / dim))

    @property
    def mutual_information(self) -> float:
        return 0.5 * self.dim_x * math.log1p(1.0 / self.noise**2)

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim_x))
        return x, x + self.noise * rng.standard_normal((n, self.dim_x))
