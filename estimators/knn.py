"""kNN estimators: Kraskov-Stoegbauer-Grassberger mutual information and Kozachenko-Leonenko entropy (max-norm)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma
from scipy.stats import rankdata

from contracts.interface import Estimate

from .intervals import student_t_interval
from .registry import ConfiguredEstimator, option_values, register_estimator
from .training import as_float_array, check_int, check_seed, paired_arrays

__all__ = ["KSGOptions", "KSG", "ksg", "kl_entropy"]


def _copula(a: np.ndarray) -> np.ndarray:
    # per-column ranks scaled to (0, 1): invariant under any strictly increasing map of a coordinate
    return rankdata(a, axis=0, method="average") / (a.shape[0] + 1)


def _standardize(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _ksg_value(x: np.ndarray, y: np.ndarray, k: int, variant: int, workers: int) -> float:
    n = x.shape[0]
    z = np.hstack([x, y])
    dist, idx = cKDTree(z).query(z, k=k + 1, p=np.inf, workers=workers)
    tx, ty = cKDTree(x), cKDTree(y)
    if variant == 1:
        # Kraskov et al. 2004, eq. 8: n_x counts points strictly inside the joint eps ball.
        eps = np.nextafter(dist[:, k], 0.0)
        nx = tx.query_ball_point(x, eps, p=np.inf, return_length=True, workers=workers) - 1
        ny = ty.query_ball_point(y, eps, p=np.inf, return_length=True, workers=workers) - 1
        return float(digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1)))
    # Kraskov et al. 2004, eq. 9: eps_x, eps_y are the marginal extents of the k nearest joint neighbours.
    nb = idx[:, 1:]
    eps_x = np.max(np.abs(x[nb] - x[:, None, :]).max(axis=2), axis=1)
    eps_y = np.max(np.abs(y[nb] - y[:, None, :]).max(axis=2), axis=1)
    nx = tx.query_ball_point(x, eps_x, p=np.inf, return_length=True, workers=workers) - 1
    ny = ty.query_ball_point(y, eps_y, p=np.inf, return_length=True, workers=workers) - 1
    return float(digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny)))


def _jitter_duplicates(a: np.ndarray, rng: np.random.Generator, name: str, extra: dict[str, Any]) -> np.ndarray:
    n_unique = np.unique(a, axis=0).shape[0]
    if n_unique == a.shape[0]:
        return a
    scale = 1e-10 * max(float(np.abs(a).max()), 1.0)
    extra[f"duplicates_{name}"] = a.shape[0] - n_unique
    extra[f"jitter_{name}"] = scale
    return a + scale * rng.standard_normal(a.shape)


def ksg(
    x: Any,
    y: Any,
    k: int = 3,
    variant: int = 1,
    copula: bool = False,
    standardize: bool = True,
    blocks: int = 10,
    seed: int = 0,
    workers: int = 1,
) -> Estimate:
    r"""Kraskov-Stoegbauer-Grassberger kNN estimate of I(X; Y) (Kraskov et al. 2004, eqs. 8 and 9), max-norm.

    Arguments:
        x, y: arrays (n, d_x), (n, d_y).
        k: neighbours (default 3).
        variant: 1 (eq. 8) or 2 (eq. 9).
        copula: rank-transform each coordinate of x and y first (empirical copula); the estimate is
            then exactly invariant under strictly monotone maps of each coordinate.
        standardize: scale each coordinate to unit variance (max-norm distances mix coordinates).
        blocks: the interval is bootstrap-free: the data are cut into ``blocks`` disjoint blocks,
            KSG is run on each, and value +- t sd/sqrt(B) is returned (sampling noise only; KSG's
            bias, which grows with MI and dimension, is not covered). ``blocks < 2`` gives no interval.
        seed: seeds the tiny jitter added when x or y has duplicate rows (reported in ``extra``).

    Example:
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((2000, 1))
        >>> e = ksg(x, x + rng.standard_normal((2000, 1)))  # true I = log(2)/2 = 0.347
    """
    x, y = paired_arrays(x, y)
    n = x.shape[0]
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    if n <= k + 1:
        raise ValueError(f"k must be smaller than the number of samples minus one; got k={k}, n={n}")
    if variant not in (1, 2):
        raise ValueError(f"variant must be 1 or 2, got {variant}")
    extra: dict[str, Any] = {"k": int(k), "variant": variant, "copula": copula, "n": n}
    if copula:
        x, y = _copula(x), _copula(y)
    if standardize:
        x, y = _standardize(x), _standardize(y)
    rng = np.random.default_rng(seed)
    x = _jitter_duplicates(x, rng, "x", extra)
    y = _jitter_duplicates(y, rng, "y", extra)
    value = _ksg_value(x, y, int(k), variant, workers)
    ci = None
    m = n // blocks if blocks >= 2 else 0
    if m > k + 1:
        perm = np.random.default_rng(seed + 1).permutation(n)
        vals = np.array([_ksg_value(x[perm[b * m : (b + 1) * m]], y[perm[b * m : (b + 1) * m]], int(k), variant, workers) for b in range(blocks)])
        ci = student_t_interval(value, vals)
        extra.update(interval=f"t interval from {blocks} disjoint blocks of {m}: sampling noise only, not the "
                     "estimator's bias (kNN estimates are biased down where I is large or the dimension high)",
                     block_values=vals.tolist())
    return Estimate(value=value, ci=ci, method="ksg", extra=extra)


def kl_entropy(x: Any, k: int = 3) -> float:
    r"""Kozachenko-Leonenko kNN differential entropy in nats, max-norm (Kraskov et al. 2004, eq. 20).

    h = psi(n) - psi(k) + d log 2 + d/n sum_i log r_i, r_i the max-norm distance to the k-th neighbour.
    """
    x = as_float_array(x, "x")
    n, d = x.shape
    if n <= k + 1:
        raise ValueError(f"k must be smaller than the number of samples minus one; got k={k}, n={n}")
    dist, _ = cKDTree(x).query(x, k=k + 1, p=np.inf)
    r = dist[:, k]
    if np.any(r <= 0):
        raise ValueError("x has duplicate rows; the kNN entropy is undefined")
    return float(digamma(n) - digamma(k) + d * math.log(2.0) + d * np.mean(np.log(r)))


@dataclass(frozen=True)
class KSGOptions:
    """Options of :class:`KSG` (the keywords of :func:`ksg`)."""

    k: int = field(default=3, metadata={"help": "neighbours of the kNN estimates"})
    variant: Literal[1, 2] = field(default=1, metadata={"help": "KSG estimator 1 (eq. 8) or 2 (eq. 9)"})
    copula: bool = field(default=False, metadata={"help": "rank-transform each coordinate first (empirical copula)"})
    standardize: bool = field(default=True, metadata={"help": "scale each coordinate to unit variance"})
    blocks: int = field(default=10, metadata={"help": "disjoint blocks of the t interval (< 2: none)"})
    seed: int = field(default=0, metadata={"help": "seed"})
    workers: int = field(default=1, metadata={"help": "kd-tree query threads"})

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 1:
            raise ValueError(f"k must be a positive integer, got {self.k!r}")  # the wording of ksg()'s own check
        if self.variant not in (1, 2) or isinstance(self.variant, bool):
            raise ValueError(f"variant must be 1 or 2 (KSG eq. 8 or 9), got {self.variant!r}")
        check_seed("seed", self.seed)
        if self.workers != -1:  # -1: every core (scipy's convention)
            check_int("workers", self.workers, 1, "or -1 for every core")


@register_estimator("ksg", options=KSGOptions, tags=("knn",))
class KSG(ConfiguredEstimator):
    """Kraskov-Stoegbauer-Grassberger kNN estimate (Kraskov et al. 2004), with a disjoint-block t interval.

    Example:
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((1000, 1))
        >>> e = KSG(k=5).estimate(x, x + rng.standard_normal((1000, 1)))  # true I = log(2)/2 = 0.347
        >>> e.method, round(e.value, 2)
        ('ksg', 0.35)
    """

    def estimate(self, x: Any, y: Any) -> Estimate:
        return ksg(x, y, **option_values(self.options))
