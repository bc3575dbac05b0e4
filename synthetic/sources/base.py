"""The base of the built-in sources: sampling, moments, entropy and the bounds every source shares."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import optimize

from contracts.interface import RDBound
from synthetic.rd import gaussian_upper_bound, shannon_lower_bound

__all__ = ["Source", "check_covariance", "torch_generator"]


def torch_generator(seed: int | None) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (fresh entropy for ``None``)."""
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


class Source(ABC):
    """A random vector X in R^dim whose R(D) under squared error (summed over dims) is known or bounded.

    All information quantities are in nats.
    """

    name: str = "source"
    dim: int

    @abstractmethod
    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Draw ``n`` samples, shape (n, dim); the same ``seed`` gives the same samples."""

    @abstractmethod
    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        """log p(x) in nats for x of shape (n, dim)."""

    @abstractmethod
    def covariance(self) -> np.ndarray:
        """Covariance matrix, shape (dim, dim)."""

    @abstractmethod
    def differential_entropy(self) -> float:
        """h(X) in nats (exact where a closed form exists; see :attr:`entropy_error`)."""

    @abstractmethod
    def rate_distortion(self, D: float) -> RDBound:
        """Bounds on R(D) in nats, D = E||X - X_hat||^2 (summed over dimensions)."""

    @property
    def entropy_error(self) -> float:
        """Absolute error bound (nats) on :meth:`differential_entropy`; 0 where it is exact."""
        return 0.0

    def variance(self) -> np.ndarray:
        """Per-dimension variances, shape (dim,); their sum is the distortion at rate 0."""
        return np.diag(self.covariance()).copy()

    def params(self) -> dict[str, Any]:
        """The parameters that rebuild this source with :func:`get_source` (JSON-friendly)."""
        return {}

    def shannon_lower_bound(self, D: float) -> float:
        """R(D) >= h(X) - n/2 log(2 pi e D/n), using the lower end of the entropy's error bar."""
        return shannon_lower_bound(self.differential_entropy() - self.entropy_error, self.dim, D)

    def gaussian_upper_bound(self, D: float) -> float:
        """R(D) <= R(D) of the Gaussian with the same covariance."""
        return gaussian_upper_bound(self.covariance(), D)

    def optimal_distortion(self, beta: float) -> float | None:
        """The D minimising D + beta R(D) (where R'(D) = -1/beta), or None where it is not known."""
        return None

    def distortion_rate(self, R: float) -> RDBound:
        """Bounds on D(R): ``lower`` where the upper R-bound equals R, ``upper`` where the lower one does."""
        R = float(R)
        if not np.isfinite(R) or R < 0:
            raise ValueError(f"R must be finite and >= 0, got {R}")
        d_max = float(self.variance().sum())
        if R == 0:
            return RDBound(d_max, d_max)

        def solve(which: str) -> float:
            def f(log_d: float) -> float:
                return getattr(self.rate_distortion(math.exp(log_d)), which) - R

            lo = math.log(d_max) - 1.0
            while f(lo) < 0:
                lo -= 2.0
            return math.exp(optimize.brentq(f, lo, math.log(d_max), xtol=1e-12, rtol=1e-10))

        lower, upper = solve("upper"), solve("lower")
        return RDBound(lower, upper)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def check_covariance(covariance: ArrayLike, name: str = "covariance") -> np.ndarray:
    """A finite, symmetric, positive semidefinite (d, d) matrix as float64."""
    c = np.asarray(covariance, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"{name} must be a square (d, d) matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{name} must be finite")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    eig = np.linalg.eigvalsh(c)
    if eig.min() < -1e-10 * max(1.0, abs(eig.max())):
        raise ValueError(f"{name} must be positive semidefinite, smallest eigenvalue {eig.min():.3g}")
    return c


