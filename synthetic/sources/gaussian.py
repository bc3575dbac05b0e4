"""Gaussian sources, scalar i.i.d. and vector: R(D) exact by reverse water-filling."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from contracts.interface import RDBound
from synthetic.checks import check_dim, check_positive, check_sample_count
from synthetic.rd import WaterFilling, reverse_water_filling, reverse_water_filling_rate
from synthetic.registry import register_source
from synthetic.sources.base import Source, check_covariance, torch_generator

__all__ = ["GaussianOptions", "GaussianSource", "GaussianVectorOptions", "gaussian", "gaussian_vector"]


class GaussianSource(Source):
    """X ~ N(0, Sigma). R(D) is exact: reverse water-filling on the eigenvalues of Sigma
    (Cover & Thomas 2nd ed., Thm 10.3.3). Eigenvalues below 1e-12 * max carry no rate and are dropped.
    """

    name = "gaussian"

    def __init__(self, covariance: ArrayLike, name: str | None = None):
        self._cov = check_covariance(covariance)
        self.dim = self._cov.shape[0]
        eig, vec = np.linalg.eigh(self._cov)
        self._eig = np.clip(eig, 0.0, None)
        self._basis = vec  # columns: principal axes
        self._chol = np.linalg.cholesky(self._cov) if eig.min() > 0 else vec * np.sqrt(self._eig)
        # the registered name whose parameters rebuild this source (see params)
        self.name = name if name is not None else ("gaussian" if self._is_isotropic() else "gaussian-vector")

    @property
    def eigenvalues(self) -> np.ndarray:
        """Variances along the principal axes (ascending), the inputs of water-filling."""
        return self._eig.copy()

    @property
    def principal_axes(self) -> np.ndarray:
        """Orthonormal principal axes as columns, ordered like :attr:`eigenvalues`."""
        return self._basis.copy()

    @property
    def is_diagonal(self) -> bool:
        return bool(np.allclose(self._cov, np.diag(np.diag(self._cov))))

    def _is_isotropic(self) -> bool:
        v = np.diag(self._cov)
        return self.is_diagonal and bool(np.allclose(v, v[0]))

    def params(self) -> dict[str, Any]:
        """``variance`` and ``dim`` for ``gaussian``; ``variances`` (diagonal) or ``covariance`` for
        ``gaussian-vector``: ``get_source(self.name, **self.params())`` rebuilds this source."""
        if self.name == "gaussian" and self._is_isotropic():
            return {"variance": float(self._cov[0, 0]), "dim": self.dim}
        if self.is_diagonal:
            return {"variances": np.diag(self._cov).tolist()}
        return {"covariance": self._cov.tolist()}

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = check_sample_count(n)
        eps = torch.randn(n, self.dim, generator=torch_generator(seed), dtype=torch.float64)
        return (eps @ torch.from_numpy(self._chol).T).to(dtype)

    def _nonsingular(self) -> None:
        if self._eig.min() <= 1e-12 * self._eig.max():
            raise ValueError("covariance is singular: the source has no density")

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        self._nonsingular()
        x = torch.as_tensor(x, dtype=torch.float64)
        dist = torch.distributions.MultivariateNormal(
            torch.zeros(self.dim, dtype=torch.float64), covariance_matrix=torch.from_numpy(self._cov)
        )
        return dist.log_prob(x)

    def covariance(self) -> np.ndarray:
        return self._cov.copy()

    def differential_entropy(self) -> float:
        """h = 1/2 log((2 pi e)^n det Sigma)."""
        self._nonsingular()
        return float(0.5 * (self.dim * math.log(2 * math.pi * math.e) + np.log(self._eig).sum()))

    def _active(self) -> np.ndarray:
        return self._eig[self._eig > 1e-12 * self._eig.max()]

    def water_filling(self, D: float) -> WaterFilling:
        """Reverse water-filling per component: in coordinate order for a diagonal covariance, else
        along :attr:`principal_axes` (ascending eigenvalue order)."""
        if self.is_diagonal:
            return reverse_water_filling(np.diag(self._cov), D)
        return reverse_water_filling(self._active(), D)

    def optimal_distortion(self, beta: float) -> float | None:
        """Reverse water-filling at level theta = beta / 2 (REFERENCES.md): sum_i min(beta/2, s2_i)."""
        return float(np.minimum(beta / 2, self._eig).sum())

    def rate_distortion(self, D: float) -> RDBound:
        r = self.water_filling(D).rate
        return RDBound(r, r)

    def distortion_rate(self, R: float) -> RDBound:
        d = reverse_water_filling_rate(self._active(), R).distortion
        return RDBound(d, d)


@dataclass(frozen=True)
class GaussianOptions:
    """Parameters of ``gaussian``: ``dim`` i.i.d. components N(0, variance)."""

    variance: float = field(default=1.0, metadata={"help": "variance of each component"})
    dim: int = field(default=1, metadata={"help": "number of i.i.d. components"})


@dataclass(frozen=True)
class GaussianVectorOptions:
    """Parameters of ``gaussian-vector``: exactly one of ``variances`` (independent components) or
    ``covariance`` (any positive semidefinite matrix)."""

    variances: tuple[float, ...] | None = field(default=None, metadata={"help": "per-component variances"})
    covariance: tuple[tuple[float, ...], ...] | None = field(
        default=None, metadata={"help": "covariance matrix as JSON, shape (d, d)", "parse": json.loads}
    )


@register_source("gaussian", options=GaussianOptions)
def gaussian(variance: float = 1.0, dim: int = 1) -> GaussianSource:
    """i.i.d. Gaussian components N(0, variance); R(D) by reverse water-filling (exact)."""
    variance = check_positive(variance, "variance")
    return GaussianSource(np.eye(check_dim(dim)) * variance, name="gaussian")


@register_source("gaussian-vector", options=GaussianVectorOptions)
def gaussian_vector(variances: ArrayLike | None = None, covariance: ArrayLike | None = None) -> GaussianSource:
    """A Gaussian vector with the given variances or covariance; R(D) by reverse water-filling (exact)."""
    if (variances is None) == (covariance is None):
        raise ValueError("gaussian-vector takes exactly one of variances= or covariance=")
    if covariance is not None:
        return GaussianSource(check_covariance(covariance), name="gaussian-vector")
    v = np.asarray(variances, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"variances must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"variances must be finite and > 0, got {v}")
    return GaussianSource(np.diag(v), name="gaussian-vector")
