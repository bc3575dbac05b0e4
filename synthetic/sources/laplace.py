"""Laplace sources: i.i.d. components, R(D) bracketed by a certified table of the unit-scale source."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from contracts.interface import RDBound
from synthetic.checks import check_dim, check_positive, check_sample_count
from synthetic.rd_curve import RDCurve
from synthetic.registry import register_source
from synthetic.sources.base import Source, torch_generator
from synthetic.tables import certified_curve, load_curve

__all__ = ["LAPLACE_TABLE_TAIL", "LaplaceOptions", "LaplaceSource", "build_laplace_unit_curve", "laplace_unit_curve"]


class LaplaceSource(Source):
    """X has ``dim`` i.i.d. Laplace(0, scale) components, p(x) = exp(-|x|/b) / (2b).

    h(X) = dim * (1 + log 2b). R(D) has no closed form under squared error: for one component it is
    bracketed by a certified Blahut-Arimoto curve of the continuous unit-scale source, shipped in
    synthetic/data (:mod:`synthetic.rd_curve`, :mod:`synthetic.make_tables`); for i.i.d. components
    R_n(D) = n R_1(D/n) (the optimal allocation of an i.i.d. vector is equal by convexity of R_1).
    The result is never below the Shannon lower bound nor above the Gaussian upper bound.
    """

    name = "laplace"

    def __init__(self, scale: float = 1.0, dim: int = 1):
        self.scale = check_positive(scale, "scale")
        self.dim = check_dim(dim)

    def params(self) -> dict[str, Any]:
        return {"scale": self.scale, "dim": self.dim}

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = check_sample_count(n)
        u = torch.rand(n, self.dim, generator=torch_generator(seed), dtype=torch.float64) - 0.5
        # inverse CDF; u = -0.5 exactly has probability 0 in float64 rand (values are in [0, 1))
        x = -self.scale * torch.sign(u) * torch.log1p(-2 * u.abs())
        return x.to(dtype)

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        return (-x.abs() / self.scale - math.log(2 * self.scale)).sum(-1)

    def log_density_np(self, x: np.ndarray) -> np.ndarray:
        """log p(x) in nats on a float64 array of shape (n, dim) (the density tables are built from)."""
        x = np.asarray(x, dtype=np.float64)
        return (-np.abs(x) / self.scale - math.log(2 * self.scale)).sum(-1)

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """[-t, t]^dim with t a whole number of scales, dim * exp(-t / b) <= ``tail``: each component
        has P(|X_i| > t) = exp(-t / b), so the box leaves out at most ``tail`` of the mass."""
        if not 0 < tail < 1:
            raise ValueError(f"tail must lie in (0, 1), got {tail!r}")
        t = self.scale * math.ceil(math.log(self.dim / tail))
        return np.full(self.dim, -t), np.full(self.dim, t)

    def covariance(self) -> np.ndarray:
        return np.eye(self.dim) * 2 * self.scale**2

    def differential_entropy(self) -> float:
        return self.dim * (1.0 + math.log(2 * self.scale))

    def rate_distortion(self, D: float) -> RDBound:
        D = check_positive(D, "D")
        per = D / self.dim
        if per >= 2 * self.scale**2:
            return RDBound(0.0, 0.0)
        # Scale invariance: R_b(D) = R_1(D / b^2), so one certified curve serves every scale.
        return self._bounds_from_curve(D, per)

    def optimal_distortion(self, beta: float) -> float | None:
        """From the certified curve's slopes: R_b'(d) = R_1'(d / b^2) / b^2 = -1/beta per component."""
        u = laplace_unit_curve().distortion_at_slope(self.scale**2 / beta)
        return None if u is None else self.dim * self.scale**2 * u

    def _bounds_from_curve(self, D: float, per: float) -> RDBound:
        lo, up = laplace_unit_curve().bounds(per / self.scale**2)
        slb = self.shannon_lower_bound(D)
        gub = self.gaussian_upper_bound(D)
        return RDBound(max(self.dim * lo, slb), min(self.dim * up, gub))


# The shipped table's box: 24 scales, ceil(log 1e10) (all but exp(-24) ~ 4e-11 of the mass).
LAPLACE_TABLE_TAIL = 1e-10


def build_laplace_unit_curve(progress: bool = True) -> RDCurve:
    """Certify the R(D) table of Laplace(0, 1) on [-24, 24] (about a minute; see :mod:`synthetic.make_tables`)."""
    unit = LaplaceSource(1.0)
    return certified_curve(unit, float(unit.variance().sum()), tail=LAPLACE_TABLE_TAIL, progress=progress)


@lru_cache(maxsize=1)
def laplace_unit_curve() -> RDCurve:
    """The certified R(D) table of Laplace(0, 1): shipped in synthetic/data, else built once and cached."""
    return load_curve("laplace_unit", {"scale": 1.0}, build_laplace_unit_curve)


@dataclass(frozen=True)
class LaplaceOptions:
    """Parameters of ``laplace``: ``dim`` i.i.d. Laplace(0, scale) components."""

    scale: float = field(default=1.0, metadata={"help": "scale b (the variance is 2 b^2)"})
    dim: int = field(default=1, metadata={"help": "number of i.i.d. components"})


register_source("laplace", options=LaplaceOptions)(LaplaceSource)
