"""Gaussian mixtures: entropy by quadrature, R(D) bracketed by a certified table and closed-form bounds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import special

from contracts.interface import RDBound
from synthetic.checks import check_positive, check_sample_count
from synthetic.rd_curve import RDCurve
from synthetic.registry import register_source
from synthetic.sources.base import Source, check_covariance, torch_generator
from synthetic.tables import certified_curve, load_curve

__all__ = ["MIXTURE_BOX_TAIL", "MixtureOptions", "MixtureSource", "build_mixture_curve", "mixture"]

# The box of the entropy quadrature and of the tables: 12 standard deviations of every component
# (2 Phi(-12) ~ 4e-33 per component and dimension; the integrand vanishes there to float64).
MIXTURE_BOX_TAIL = 1e-30


class MixtureSource(Source):
    """Gaussian mixture sum_k w_k N(mu_k, Sigma_k).

    h(X) has no closed form: it is computed by quadrature on a grid (dim <= 2, error bound from two
    resolutions) or by Monte Carlo (dim > 2, error bound = 4 standard errors). R(D) for dim <= 2 is
    bracketed by a certified Blahut-Arimoto curve of the continuous source (:mod:`synthetic.rd_curve`),
    intersected with the Shannon lower bound and the Gaussian upper bound; for dim > 2 only those
    two bounds are given.
    """

    name = "mixture"

    def __init__(self, weights: ArrayLike, means: ArrayLike, covariances: ArrayLike):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"weights must have shape (k,), got {w.shape}")
        if np.any(~np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
            raise ValueError(f"weights must be nonnegative and sum to 1, got {w} (sum {w.sum()})")
        mu = np.asarray(means, dtype=np.float64)
        if mu.ndim == 1 and mu.shape[0] == w.size:
            mu = mu[:, None]
        if mu.ndim != 2 or mu.shape[0] != w.size or not np.all(np.isfinite(mu)):
            raise ValueError(f"means must be finite with shape (k, d) = ({w.size}, d), got {mu.shape}")
        d = mu.shape[1]
        cov = np.asarray(covariances, dtype=np.float64)
        if cov.ndim == 1 and d == 1 and cov.shape[0] == w.size:
            cov = cov[:, None, None]
        if cov.shape != (w.size, d, d):
            raise ValueError(f"covariances must have shape (k, d, d) = ({w.size}, {d}, {d}), got {cov.shape}")
        for k in range(w.size):
            check_covariance(cov[k], f"covariances[{k}]")
            if np.linalg.eigvalsh(cov[k]).min() <= 0:
                raise ValueError(f"covariances[{k}] must be positive definite")
        self.weights, self.means, self.covariances = w, mu, cov
        self.dim = d
        self._entropy: tuple[float, float] | None = None
        self._curve: RDCurve | None = None

    def params(self) -> dict[str, Any]:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
        }

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = check_sample_count(n)
        g = torch_generator(seed)
        comp = torch.multinomial(torch.from_numpy(self.weights), n, replacement=True, generator=g)
        eps = torch.randn(n, self.dim, generator=g, dtype=torch.float64)
        chol = torch.from_numpy(np.linalg.cholesky(self.covariances))
        x = torch.from_numpy(self.means)[comp] + torch.einsum("nij,nj->ni", chol[comp], eps)
        return x.to(dtype)

    def log_density_np(self, x: np.ndarray) -> np.ndarray:
        """log p(x) in nats on a float64 array of shape (n, dim) (the density tables are built from)."""
        x = np.asarray(x, dtype=np.float64)
        out = []
        for w, mu, cov in zip(self.weights, self.means, self.covariances):
            if w == 0:
                continue
            diff = x - mu
            sol = np.linalg.solve(cov, diff.T).T
            _, logdet = np.linalg.slogdet(cov)
            out.append(math.log(w) - 0.5 * (np.sum(diff * sol, -1) + logdet + self.dim * math.log(2 * math.pi)))
        return special.logsumexp(np.stack(out), axis=0)

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.from_numpy(self.log_density_np(x.numpy()))

    def covariance(self) -> np.ndarray:
        m = self.weights @ self.means
        second = np.einsum("k,kij->ij", self.weights, self.covariances) + np.einsum(
            "k,ki,kj->ij", self.weights, self.means, self.means
        )
        return second - np.outer(m, m)

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """The smallest box holding every component's mean +- z standard deviations, z the whole
        number with dim * 2 Phi(-z) <= ``tail``: by the union bound over components and dimensions
        it leaves out at most ``tail`` of the mass."""
        if not 0 < tail < 1:
            raise ValueError(f"tail must lie in (0, 1), got {tail!r}")
        width = math.ceil(-float(special.ndtri(0.5 * tail / self.dim)))  # ndtri: accurate far in the tail
        sd = np.sqrt(np.einsum("kii->ki", self.covariances))
        return (self.means - width * sd).min(0), (self.means + width * sd).max(0)

    def _entropy_quadrature(self, n: int) -> float:
        lo, hi = self.support_box(MIXTURE_BOX_TAIL)
        axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dim)
        lp = self.log_density_np(mesh)
        cell = np.prod([(b - a) / (n - 1) for a, b in zip(lo, hi)])
        # the integrand and its derivatives vanish at the box edge (12 sd), so the plain Riemann sum
        # is spectrally accurate; two resolutions give the error estimate
        return float(-(np.exp(lp) * lp).sum() * cell)

    def differential_entropy(self) -> float:
        if self._entropy is None:
            if self.dim <= 2:
                n = 4001 if self.dim == 1 else 601
                fine, coarse = self._entropy_quadrature(n), self._entropy_quadrature((n + 1) // 2)
                # error bound: the coarse-fine difference (the fine error is far smaller), floored at
                # the float64 summation error
                self._entropy = (fine, abs(fine - coarse) + 1e-10 * max(1.0, abs(fine)))
            else:
                x = self.sample(200_000, seed=12345, dtype=torch.float64).numpy()
                lp = self.log_density_np(x)
                self._entropy = (float(-lp.mean()), float(4 * lp.std() / math.sqrt(len(lp))))
        return self._entropy[0]

    @property
    def entropy_error(self) -> float:
        self.differential_entropy()
        assert self._entropy is not None
        return self._entropy[1]

    def rate_distortion(self, D: float) -> RDBound:
        D = check_positive(D, "D")
        if D >= self.variance().sum():
            # rate 0 is achievable with x_hat = E[X]
            return RDBound(0.0, 0.0)
        slb, gub = self.shannon_lower_bound(D), self.gaussian_upper_bound(D)
        if self.dim > 2:
            return RDBound(slb, gub)
        if self._curve is None:
            default = self.params() == mixture().params()
            name = "mixture_default" if default else "mixture"
            self._curve = load_curve(name, self.params(), lambda: build_mixture_curve(self))
        lo, up = self._curve.bounds(D)
        return RDBound(max(lo, slb), min(up, gub))

    def optimal_distortion(self, beta: float) -> float | None:
        """From the certified curve's slopes (dim <= 2): the D where R'(D) = -1/beta."""
        if self.dim > 2:
            return None
        self.rate_distortion(0.5 * float(self.variance().sum()))  # builds the curve
        assert self._curve is not None
        return self._curve.distortion_at_slope(1.0 / beta)


def build_mixture_curve(source: MixtureSource, progress: bool = True) -> RDCurve:
    """Certify the R(D) table of a 1-D or 2-D mixture on its 12-standard-deviation box."""
    return certified_curve(source, float(source.variance().sum()), tail=MIXTURE_BOX_TAIL, progress=progress)


@dataclass(frozen=True)
class MixtureOptions:
    """Parameters of ``mixture``: all three together, or none for the default bimodal 1-D mixture
    0.5 N(-1.5, 0.25) + 0.5 N(1.5, 0.25)."""

    # JSON like the means and covariances, so the three flags read alike (--weights '[0.5, 0.5]')
    weights: tuple[float, ...] | None = field(
        default=None, metadata={"help": "component weights as JSON, shape (k,)", "parse": json.loads}
    )
    means: tuple[tuple[float, ...], ...] | None = field(
        default=None, metadata={"help": "component means as JSON, shape (k, d)", "parse": json.loads}
    )
    covariances: tuple[tuple[tuple[float, ...], ...], ...] | None = field(
        default=None, metadata={"help": "component covariances as JSON, shape (k, d, d)", "parse": json.loads}
    )


@register_source("mixture", options=MixtureOptions)
def mixture(weights: ArrayLike | None = None, means: ArrayLike | None = None, covariances: ArrayLike | None = None) -> MixtureSource:
    """A Gaussian mixture; R(D) bracketed by a certified table (dim <= 2) and the Shannon and Gaussian bounds."""
    # Default: a bimodal 1-D mixture, unit total scale, well separated so it is far from Gaussian.
    if weights is None and means is None and covariances is None:
        return MixtureSource([0.5, 0.5], [[-1.5], [1.5]], [[[0.25]], [[0.25]]])
    if weights is None or means is None or covariances is None:
        raise ValueError("mixture takes weights=, means= and covariances= together (or none for the default)")
    return MixtureSource(weights, means, covariances)
