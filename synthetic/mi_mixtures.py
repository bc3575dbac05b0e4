"""Gaussian mixtures over (x, y) whose MI is a Monte-Carlo mean of their exact pointwise MI (nats).

Czyż, Grabowski, Vogt, Beerenwinkel & Marx, "The mixtures and the neural critics: on the pointwise
mutual information profiles of fine distributions", AISTATS 2024: a mixture of Gaussians over the
joint (x, y) has marginals that are mixtures of the components' marginals, so the pointwise MI
log p(x, y) - log p(x) - log p(y) is a difference of log-sum-exps, exact at every point, and
I(X; Y) = E pmi(X, Y) is estimated by its sample mean with a standard error that shrinks as 1/sqrt(n).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from scipy.optimize import brentq

from synthetic.checks import check_dim, check_sample_count
from estimators.densities import gaussian_mixture_log_density
from synthetic.registry import register_sampler

__all__ = [
    "FIT_DRAWS",
    "MIN_MI",
    "MI_DRAWS",
    "ClustersOptions",
    "GaussianMixturePair",
    "XMixtureOptions",
    "cluster_mixture",
    "mixture_clusters",
    "mixture_x",
    "x_mixture",
]

MI_DRAWS = 200_000
"""Draws of the Monte-Carlo mean that gives a mixture's ``mutual_information``."""

FIT_DRAWS = 20_000
"""Draws, common to every trial parameter, of the Monte-Carlo MI that a parameter is fitted on."""

# SeedSequence entropy of the fixed draws: a list, so that no ``sample(n, seed=int)`` repeats them
_MI_SEED = (2024, 1)
_FIT_SEED = (2024, 2)


@dataclass(frozen=True, eq=False)
class GaussianMixturePair:
    r"""(X, Y) ~ sum_k w_k N(mu_k, Sigma_k) over the joint, X the first ``dim_x`` coordinates.

    pmi(x, y) = LSE_k[log w_k + log N((x, y); mu_k, Sigma_k)] - LSE_k[log w_k + log N(x; mu_k^x, Sigma_k^xx)]
    - LSE_k[log w_k + log N(y; mu_k^y, Sigma_k^yy)]; the MI is its mean over :data:`MI_DRAWS` draws of a
    fixed seed (Czyż et al. 2024), computed once, with its standard error.

    Arguments:
        weights: w, shape (K,), positive (normalised here).
        means: mu, shape (K, dim_x + dim_y).
        covariances: Sigma, shape (K, dim_x + dim_y, dim_x + dim_y), each positive definite.
        dim_x: the dimension of X.

    Example:
        >>> s = GaussianMixturePair(np.ones(1), np.zeros((1, 2)), np.array([[[1.0, 0.6], [0.6, 1.0]]]), dim_x=1)
        >>> x, y = s.sample(4, seed=0); bool(np.allclose(s.pmi(x, y), -0.5 * np.log(1 - 0.36)
        ...     - (0.36 * (x**2 + y**2) - 1.2 * x * y)[:, 0] / (2 * 0.64)))  # one component: the Gaussian's PMI
        True
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    dim_x: int
    dim_y: int = field(init=False)

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64).reshape(-1)
        means = np.array(self.means, dtype=np.float64)
        covs = np.array(self.covariances, dtype=np.float64)
        k = w.size
        if k < 1 or not (np.all(np.isfinite(w)) and np.all(w > 0)):
            raise ValueError("weights must be a non-empty vector of finite positive numbers")
        if means.ndim != 2 or means.shape[0] != k or means.shape[1] < 2 or not np.all(np.isfinite(means)):
            raise ValueError(f"means must be finite, of shape ({k}, d) with d >= 2, got {means.shape}")
        d = means.shape[1]
        if covs.shape != (k, d, d) or not np.all(np.isfinite(covs)):
            raise ValueError(f"covariances must be finite, of shape ({k}, {d}, {d}), got {covs.shape}")
        dim_x = check_dim(self.dim_x, "dim_x")
        if dim_x >= d:
            raise ValueError(f"dim_x must be in [1, {d - 1}], got {dim_x}")
        for i, c in enumerate(covs):
            if not np.allclose(c, c.T, rtol=0.0, atol=1e-12):
                raise ValueError(f"covariances[{i}] must be symmetric")
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                raise ValueError(f"covariances[{i}] must be positive definite") from None
        for name, value in (("weights", w / w.sum()), ("means", means), ("covariances", covs)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "dim_x", dim_x)
        object.__setattr__(self, "dim_y", d - dim_x)

    @cached_property
    def _factors(self) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Lower Cholesky factors of every component's joint, x-block and y-block covariance."""
        dx = self.dim_x
        joint = [np.linalg.cholesky(c) for c in self.covariances]
        xs = [np.linalg.cholesky(c[:dx, :dx]) for c in self.covariances]
        ys = [np.linalg.cholesky(c[dx:, dx:]) for c in self.covariances]
        return joint, xs, ys

    def _log_mixture(self, z: np.ndarray, means: np.ndarray, factors: list[np.ndarray]) -> np.ndarray:
        return gaussian_mixture_log_density(z, self.weights, means, factors)

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The exact pointwise MI log p(x, y) - log p(x) - log p(y) of every row (nats), shape (n,)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        joint, xs, ys = self._factors
        dx = self.dim_x
        return (
            self._log_mixture(np.hstack([x, y]), self.means, joint)
            - self._log_mixture(x, self.means[:, :dx], xs)
            - self._log_mixture(y, self.means[:, dx:], ys)
        )

    def transport(self, labels: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The joint points mu_c + L_c z for components ``labels`` (n,) and standard normals z (n, d).

        A deterministic function of the draws, so that the draws can be shared across parameters
        (common random numbers). Returns (x, y).
        """
        joint = self._factors[0]
        points = np.empty_like(normals)
        for k, factor in enumerate(joint):
            rows = labels == k
            points[rows] = self.means[k] + normals[rows] @ factor.T
        return points[:, : self.dim_x], points[:, self.dim_x :]

    def draws(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` component labels (by the weights) and standard normals (n, d): what :meth:`transport` maps."""
        labels = np.searchsorted(np.cumsum(self.weights), rng.random(n) * self.weights.sum(), side="right")
        labels = np.minimum(labels, self.weights.size - 1)
        return labels, rng.standard_normal((n, self.dim_x + self.dim_y))

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` independent pairs: returns (x, y), float64 arrays of shapes (n, dim_x) and (n, dim_y)."""
        return self.transport(*self.draws(check_sample_count(n), np.random.default_rng(seed)))

    @cached_property
    def _monte_carlo(self) -> tuple[float, float]:
        pmi = self.pmi(*self.transport(*self.draws(MI_DRAWS, np.random.default_rng(list(_MI_SEED)))))
        return float(pmi.mean()), float(pmi.std(ddof=1) / math.sqrt(pmi.size))

    @property
    def mutual_information(self) -> float:
        """I(X; Y) in nats: the mean PMI over :data:`MI_DRAWS` draws of a fixed seed (computed once)."""
        return self._monte_carlo[0]

    @property
    def mutual_information_se(self) -> float:
        """The standard error of :attr:`mutual_information` (the PMI's sd over sqrt(MI_DRAWS))."""
        return self._monte_carlo[1]

    def params(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-ready: ``GaussianMixturePair(**s.params())`` is the same pair."""
        return {"weights": self.weights.tolist(), "means": self.means.tolist(),
                "covariances": self.covariances.tolist(), "dim_x": self.dim_x}


# below this the fit's Monte-Carlo MI is within its own noise of 0, where it need not rise with the parameter
MIN_MI = 0.01


def _check_mi(mi: float) -> float:
    if isinstance(mi, bool) or not isinstance(mi, (int, float, np.floating)) or not (math.isfinite(mi) and mi > 0):
        raise ValueError(f"mi must be finite and > 0, got {mi!r}")
    if mi < MIN_MI:
        raise ValueError(f"mi must be >= {MIN_MI} nats for a mixture (below it the Monte-Carlo MI that the parameter "
                         f"is fitted on is within its noise of 0), got {mi!r}")
    return float(mi)


def _fit(build: Callable[[float], GaussianMixturePair], mi: float, low: float, high: float) -> float:
    """The parameter in [low, high] whose Monte-Carlo MI over :data:`FIT_DRAWS` common draws is ``mi``.

    The same labels and normals serve every trial parameter, so the estimate is a smooth function of
    the parameter and Brent's bracketing root search finds its crossing; the caller has checked that
    the crossing lies inside the bracket.
    """
    probe = build(low)
    labels, normals = probe.draws(FIT_DRAWS, np.random.default_rng(list(_FIT_SEED)))

    def excess(theta: float) -> float:
        s = build(theta)
        return float(np.mean(s.pmi(*s.transport(labels, normals)))) - mi

    f_low, f_high = excess(low), excess(high)
    if f_low * f_high > 0:
        raise ValueError(f"mi={mi} is out of reach: the Monte-Carlo MI runs from {f_low + mi:.4g} to {f_high + mi:.4g} nats "
                         "over the parameter's range")
    # the parameter to 1e-9 relative: its effect on the MI is far below the Monte-Carlo error
    return float(brentq(excess, low, high, xtol=1e-12, rtol=1e-9, maxiter=200))


def x_mixture(r: float) -> GaussianMixturePair:
    """The "X": 1/2 N(0, [[1, r], [r, 1]]) + 1/2 N(0, [[1, -r], [-r, 1]]) in 1 + 1 dimensions.

    Both marginals are N(0, 1) and X, Y are uncorrelated, yet dependent: |Y| tracks |X|.

    Arguments:
        r: the components' correlation, in [0, 1).

    Returns:
        The :class:`GaussianMixturePair`.

    Example:
        >>> abs(float(x_mixture(0.0).pmi(np.zeros((1, 1)), np.zeros((1, 1)))[0])) < 1e-12  # independent at r = 0
        True
    """
    if not 0.0 <= r < 1.0:
        raise ValueError(f"r must lie in [0, 1), got {r!r}")
    covs = np.array([[[1.0, r], [r, 1.0]], [[1.0, -r], [-r, 1.0]]])
    return GaussianMixturePair(np.full(2, 0.5), np.zeros((2, 2)), covs, dim_x=1)


@dataclass(frozen=True)
class XMixtureOptions:
    """Parameters of ``mixture-x`` besides the true MI (none: it is 1 + 1 dimensional)."""


_R_MAX = 1.0 - 1e-9


@register_sampler("mixture-x", options=XMixtureOptions, summary="the 'X' mixture of two opposite-correlated Gaussians, 1+1 dims")
def mixture_x(mi: float) -> GaussianMixturePair:
    """The "X" mixture (:func:`x_mixture`) with r fitted so that its Monte-Carlo MI is ``mi``.

    Arguments:
        mi: the MI wanted, nats (the built sampler's ``mutual_information`` is its own Monte-Carlo value).

    Returns:
        The :class:`GaussianMixturePair`.

    Example:
        >>> s = mixture_x(0.5); abs(s.mutual_information - 0.5) < 0.02
        True
    """
    return _fitted_x_mixture(_check_mi(mi))


# a fitted mixture is immutable (read-only arrays, its MI computed once), so one fit serves every build
@lru_cache(maxsize=64)
def _fitted_x_mixture(mi: float) -> GaussianMixturePair:
    return x_mixture(_fit(x_mixture, mi, 0.0, _R_MAX))


def cluster_mixture(noise: float, dim_x: int, dim_y: int, components: int = 4, means_seed: int = 0) -> GaussianMixturePair:
    """K equally weighted clusters N((m_k, n_k), noise^2 I): x and y share only the cluster label.

    The x means m_k and y means n_k are K points drawn from N(0, I) with ``means_seed``. X and Y are
    independent given the label C, so I(X; Y) <= I(X; C) <= H(C) = log K, reached as noise -> 0.

    Arguments:
        noise: the within-cluster standard deviation, > 0.
        dim_x, dim_y: the dimensions.
        components: K >= 2.
        means_seed: the seed of the means.

    Returns:
        The :class:`GaussianMixturePair`.

    Example:
        >>> cluster_mixture(0.5, 2, 3).means.shape
        (4, 5)
    """
    if not (math.isfinite(noise) and noise > 0):
        raise ValueError(f"noise must be finite and > 0, got {noise!r}")
    dim_x, dim_y = check_dim(dim_x, "dim_x"), check_dim(dim_y, "dim_y")
    if isinstance(components, bool) or not isinstance(components, (int, np.integer)) or components < 2:
        raise ValueError(f"components must be an integer >= 2, got {components!r}")
    if isinstance(means_seed, bool) or not isinstance(means_seed, (int, np.integer)) or means_seed < 0:
        raise ValueError(f"means_seed must be an integer >= 0, got {means_seed!r}")
    rng = np.random.default_rng(int(means_seed))
    means = np.hstack([rng.standard_normal((components, dim_x)), rng.standard_normal((components, dim_y))])
    covs = np.broadcast_to(noise**2 * np.eye(dim_x + dim_y), (components, dim_x + dim_y, dim_x + dim_y))
    return GaussianMixturePair(np.full(components, 1.0 / components), means, covs, dim_x=dim_x)


@dataclass(frozen=True)
class ClustersOptions:
    """Parameters of ``mixture-clusters`` besides the true MI."""

    dim_x: int = field(default=2, metadata={"help": "dimension of x"})
    dim_y: int = field(default=2, metadata={"help": "dimension of y"})
    components: int = field(default=4, metadata={"help": "number of clusters K (the MI is below log K)"})
    means_seed: int = field(default=0, metadata={"help": "seed of the cluster means"})


_NOISE_RANGE = (1e-3, 1e3)


@register_sampler("mixture-clusters", options=ClustersOptions, summary="K Gaussian clusters tying x to y through the label")
def mixture_clusters(mi: float, dim_x: int = 2, dim_y: int = 2, components: int = 4, means_seed: int = 0) -> GaussianMixturePair:
    """The cluster mixture (:func:`cluster_mixture`) with its noise fitted so that its Monte-Carlo MI is ``mi``.

    Arguments:
        mi: the MI wanted, nats, below log(components).
        dim_x, dim_y, components, means_seed: as :func:`cluster_mixture`.

    Returns:
        The :class:`GaussianMixturePair`.

    Example:
        >>> mixture_clusters(1.5, components=4)
        Traceback (most recent call last):
        ...
        ValueError: mi must be < log(components) = 1.3863 nats for mixture-clusters (x and y share only the cluster label: I <= H(label) = log K), got 1.5
    """
    mi = _check_mi(mi)
    cluster_mixture(1.0, dim_x, dim_y, components, means_seed)  # the arguments' checks, before the fit
    if not mi < math.log(components):
        raise ValueError(f"mi must be < log(components) = {math.log(components):.4f} nats for mixture-clusters "
                         f"(x and y share only the cluster label: I <= H(label) = log K), got {mi}")
    return _fitted_clusters(mi, int(dim_x), int(dim_y), int(components), int(means_seed))


@lru_cache(maxsize=64)
def _fitted_clusters(mi: float, dim_x: int, dim_y: int, components: int, means_seed: int) -> GaussianMixturePair:
    def build(log_noise: float) -> GaussianMixturePair:
        return cluster_mixture(math.exp(log_noise), dim_x, dim_y, components, means_seed)

    return build(_fit(build, mi, math.log(_NOISE_RANGE[0]), math.log(_NOISE_RANGE[1])))
