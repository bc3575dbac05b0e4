"""Sources with known rate-distortion answers: Gaussian (scalar, vector), Gaussian mixture, Laplace."""

from __future__ import annotations

import hashlib
import json
import math
import os
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import optimize, special

from synthetic.rd import (
    _check_positive,
    RDBound,
    WaterFilling,
    gaussian_upper_bound,
    reverse_water_filling,
    reverse_water_filling_rate,
    shannon_lower_bound,
)

if TYPE_CHECKING:
    from synthetic.rd_curve import RDCurve

__all__ = [
    "Source",
    "GaussianSource",
    "MixtureSource",
    "LaplaceSource",
    "get_source",
    "SOURCES",
]


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def _check_n(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


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
            f = lambda log_d: getattr(self.rate_distortion(math.exp(log_d)), which) - R  # noqa: E731
            lo = math.log(d_max) - 1.0
            while f(lo) < 0:
                lo -= 2.0
            return math.exp(optimize.brentq(f, lo, math.log(d_max), xtol=1e-12, rtol=1e-10))

        lower, upper = solve("upper"), solve("lower")
        return RDBound(lower, upper)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def _check_covariance(covariance: ArrayLike, name: str = "covariance") -> np.ndarray:
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


class GaussianSource(Source):
    """X ~ N(0, Sigma). R(D) is exact: reverse water-filling on the eigenvalues of Sigma
    (Cover & Thomas 2nd ed., Thm 10.3.3). Eigenvalues below 1e-12 * max carry no rate and are dropped.
    """

    name = "gaussian"

    def __init__(self, covariance: ArrayLike, name: str = "gaussian"):
        self.name = name
        self._cov = _check_covariance(covariance)
        self.dim = self._cov.shape[0]
        eig, vec = np.linalg.eigh(self._cov)
        self._eig = np.clip(eig, 0.0, None)
        self._basis = vec  # columns: principal axes
        self._chol = np.linalg.cholesky(self._cov) if eig.min() > 0 else vec * np.sqrt(self._eig)

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

    def params(self) -> dict[str, Any]:
        if self.is_diagonal:
            v = np.diag(self._cov)
            if np.allclose(v, v[0]):
                return {"variance": float(v[0]), "dim": self.dim}
            return {"variances": v.tolist()}
        return {"covariance": self._cov.tolist()}

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = _check_n(n)
        eps = torch.randn(n, self.dim, generator=_generator(seed), dtype=torch.float64)
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


_DATA = Path(__file__).resolve().parent / "data"


def _cached_curve(name: str, params: dict[str, Any], build: Callable[[], "RDCurve"]) -> "RDCurve":
    """A certified R(D) table: shipped in synthetic/data for the default sources, else built once
    (about a minute; see :mod:`synthetic.make_tables`) and kept in ``$IBFLOW_CACHE`` (default
    ~/.cache/ibflow), keyed by the source's parameters."""
    from synthetic.rd_curve import RDCurve

    shipped = _DATA / f"{name}.json"
    if shipped.exists():
        return RDCurve.load(shipped)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("IBFLOW_CACHE", Path.home() / ".cache" / "ibflow")) / f"rd_{name}_{key}.json"
    if cache.exists():
        return RDCurve.load(cache)
    curve = build()
    cache.parent.mkdir(parents=True, exist_ok=True)
    curve.save(cache)
    return curve


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
        self.scale = _check_positive(scale, "scale")
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
        self.dim = int(dim)

    def params(self) -> dict[str, Any]:
        return {"scale": self.scale, "dim": self.dim}

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = _check_n(n)
        u = torch.rand(n, self.dim, generator=_generator(seed), dtype=torch.float64) - 0.5
        # inverse CDF; u = -0.5 exactly has probability 0 in float64 rand (values are in [0, 1))
        x = -self.scale * torch.sign(u) * torch.log1p(-2 * u.abs())
        return x.to(dtype)

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        return (-x.abs() / self.scale - math.log(2 * self.scale)).sum(-1)

    def covariance(self) -> np.ndarray:
        return np.eye(self.dim) * 2 * self.scale**2

    def differential_entropy(self) -> float:
        return self.dim * (1.0 + math.log(2 * self.scale))

    def rate_distortion(self, D: float) -> RDBound:
        D = _check_positive(D, "D")
        per = D / self.dim
        if per >= 2 * self.scale**2:
            return RDBound(0.0, 0.0)
        # Scale invariance: R_b(D) = R_1(D / b^2), so one certified curve serves every scale.
        return self._bounds_from_curve(D, per)

    def optimal_distortion(self, beta: float) -> float | None:
        """From the certified curve's slopes: R_b'(d) = R_1'(d / b^2) / b^2 = -1/beta per component."""
        u = _laplace_unit_curve().distortion_at_slope(self.scale**2 / beta)
        return None if u is None else self.dim * self.scale**2 * u

    def _bounds_from_curve(self, D: float, per: float) -> RDBound:
        lo, up = _laplace_unit_curve().bounds(per / self.scale**2)
        slb = self.shannon_lower_bound(D)
        gub = self.gaussian_upper_bound(D)
        return RDBound(max(self.dim * lo, slb), min(self.dim * up, gub))


@lru_cache(maxsize=1)
def _laplace_unit_curve() -> "RDCurve":
    from synthetic.make_tables import laplace_unit_curve

    return _cached_curve("laplace_unit", {"scale": 1.0}, laplace_unit_curve)


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
            _check_covariance(cov[k], f"covariances[{k}]")
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
        n = _check_n(n)
        g = _generator(seed)
        comp = torch.multinomial(torch.from_numpy(self.weights), n, replacement=True, generator=g)
        eps = torch.randn(n, self.dim, generator=g, dtype=torch.float64)
        chol = torch.from_numpy(np.linalg.cholesky(self.covariances))
        x = torch.from_numpy(self.means)[comp] + torch.einsum("nij,nj->ni", chol[comp], eps)
        return x.to(dtype)

    def _log_prob_np(self, x: np.ndarray) -> np.ndarray:
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
        return torch.from_numpy(self._log_prob_np(x.numpy()))

    def covariance(self) -> np.ndarray:
        m = self.weights @ self.means
        second = np.einsum("k,kij->ij", self.weights, self.covariances) + np.einsum(
            "k,ki,kj->ij", self.weights, self.means, self.means
        )
        return second - np.outer(m, m)

    def _box(self, width: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
        sd = np.sqrt(np.einsum("kii->ki", self.covariances))
        return (self.means - width * sd).min(0), (self.means + width * sd).max(0)

    def _entropy_quadrature(self, n: int) -> float:
        lo, hi = self._box()
        axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
        mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dim)
        lp = self._log_prob_np(mesh)
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
                lp = self._log_prob_np(x)
                self._entropy = (float(-lp.mean()), float(4 * lp.std() / math.sqrt(len(lp))))
        return self._entropy[0]

    @property
    def entropy_error(self) -> float:
        self.differential_entropy()
        assert self._entropy is not None
        return self._entropy[1]

    def rate_distortion(self, D: float) -> RDBound:
        D = _check_positive(D, "D")
        if D >= self.variance().sum():
            # rate 0 is achievable with x_hat = E[X]
            return RDBound(0.0, 0.0)
        slb, gub = self.shannon_lower_bound(D), self.gaussian_upper_bound(D)
        if self.dim > 2:
            return RDBound(slb, gub)
        if self._curve is None:
            from synthetic.make_tables import mixture_curve

            default = self.params() == _default_mixture().params()
            name = "mixture_default" if default else "mixture"
            self._curve = _cached_curve(name, self.params(), lambda: mixture_curve(self))
        lo, up = self._curve.bounds(D)
        return RDBound(max(lo, slb), min(up, gub))

    def optimal_distortion(self, beta: float) -> float | None:
        """From the certified curve's slopes (dim <= 2): the D where R'(D) = -1/beta."""
        if self.dim > 2:
            return None
        self.rate_distortion(0.5 * float(self.variance().sum()))  # builds the curve
        assert self._curve is not None
        return self._curve.distortion_at_slope(1.0 / beta)


def _gaussian(variance: float = 1.0, dim: int = 1) -> GaussianSource:
    variance = _check_positive(variance, "variance")
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    return GaussianSource(np.eye(int(dim)) * variance, name="gaussian")


def _gaussian_vector(variances: ArrayLike | None = None, covariance: ArrayLike | None = None) -> GaussianSource:
    if (variances is None) == (covariance is None):
        raise ValueError("gaussian-vector takes exactly one of variances= or covariance=")
    if variances is not None:
        v = np.asarray(variances, dtype=np.float64)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"variances must be a non-empty 1-D array, got shape {v.shape}")
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"variances must be finite and > 0, got {v}")
        return GaussianSource(np.diag(v), name="gaussian-vector")
    return GaussianSource(_check_covariance(covariance), name="gaussian-vector")


def _default_mixture(weights=None, means=None, covariances=None) -> MixtureSource:
    # Default: a bimodal 1-D mixture, unit total scale, well separated so it is far from Gaussian.
    if weights is None and means is None and covariances is None:
        return MixtureSource([0.5, 0.5], [[-1.5], [1.5]], [[[0.25]], [[0.25]]])
    if weights is None or means is None or covariances is None:
        raise ValueError("mixture takes weights=, means= and covariances= together (or none for the default)")
    return MixtureSource(weights, means, covariances)


SOURCES: dict[str, Callable[..., Source]] = {
    "gaussian": _gaussian,
    "gaussian-vector": _gaussian_vector,
    "mixture": _default_mixture,
    "laplace": LaplaceSource,
}


def get_source(name: str, **params: Any) -> Source:
    """Build a source by name: ``gaussian`` (variance, dim), ``gaussian-vector`` (variances or
    covariance), ``mixture`` (weights, means, covariances), ``laplace`` (scale, dim).

    Example:
        >>> get_source("gaussian", variance=2.0).rate_distortion(0.5).lower  # 1/2 log 4
        0.6931471805599453
    """
    if name not in SOURCES:
        raise ValueError(f"name must be one of {sorted(SOURCES)}, got {name!r}")
    try:
        return SOURCES[name](**params)
    except TypeError as e:  # unknown keyword: say which source takes which
        raise ValueError(f"bad parameters for source {name!r}: {e}") from None
