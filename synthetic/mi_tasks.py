"""A suite of known-MI tasks in the style of benchmark-mi, and its multinormal sampler (nats).

The tasks follow Czyż, Grabowski, Vogt, Beerenwinkel & Marx, "Beyond normal: on the evaluation of
mutual information estimators", NeurIPS 2023 (benchmark-mi, cbg-ethz/bmi): multivariate normals
with dense and sparse interactions, the same seen through invertible maps that leave I(X; Y)
unchanged (Cover & Thomas 2nd ed., 8.6: :mod:`synthetic.mi_maps`), Student-t pairs, and the Gaussian
mixtures of Czyż, Grabowski, Vogt, Beerenwinkel & Marx, "The mixtures and the neural critics: on the
pointwise mutual information profiles of fine distributions", AISTATS 2024, whose MI is a Monte-Carlo
mean of the exact pointwise MI (:mod:`synthetic.mi_mixtures`). Every task is built through the sampler
registry (:func:`synthetic.get_sampler`), and every sampler has ``pmi(x, y)``, the exact pointwise MI
log p(x, y) - log p(x) - log p(y), whose mean under the joint is the true MI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import brentq

from contracts.interface import KnownMISampler
from estimators.densities import gaussian_log_density
from estimators.closed_form import canonical_correlations, gaussian_mi_from_correlations
from synthetic.checks import check_dim, check_sample_count
from synthetic.registry import get_sampler, register_sampler

__all__ = [
    "MI_TASKS",
    "TASK_FAMILIES",
    "MITask",
    "MultinormalOptions",
    "MultinormalPair",
    "get_task",
    "multinormal",
    "multinormal_covariance",
    "task_names",
]

Structure = Literal["dense", "sparse"]

# the largest canonical correlation allowed, as 1 - rho^2: beyond it the joint covariance is singular
# to within rounding and its samples and PMI lose their meaning (one such correlation carries
# -1/2 log(1e-12) = 13.8 nats)
_MIN_ONE_MINUS_RHO2 = 1e-12


@dataclass(frozen=True, eq=False)
class MultinormalPair:
    r"""Jointly Gaussian (X, Y) ~ N(0, S), X the first ``dim_x`` coordinates.

    I(X; Y) = 1/2 log(det S_xx det S_yy / det S) = -1/2 sum_i log(1 - rho_i^2) over the canonical
    correlations rho_i (Cover & Thomas 2nd ed., ch. 8; Hotelling 1936), computed from the latter,
    which stays accurate when S is nearly singular.

    Arguments:
        covariance: the joint covariance S, shape (dim_x + dim_y, dim_x + dim_y), positive definite.
        dim_x: the dimension of X.

    Example:
        >>> s = MultinormalPair(np.array([[1.0, 0.6], [0.6, 1.0]]), dim_x=1)
        >>> round(s.mutual_information, 12) == round(-0.5 * math.log(1 - 0.36), 12)
        True
        >>> x, y = s.sample(3, seed=0); x.shape, y.shape
        ((3, 1), (3, 1))
    """

    covariance: np.ndarray
    dim_x: int
    dim_y: int = field(init=False)
    mutual_information_se: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        cov = np.array(self.covariance, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] < 2:
            raise ValueError(f"covariance must be a square matrix of size >= 2, got shape {cov.shape}")
        dim_x = check_dim(self.dim_x, "dim_x")
        if dim_x >= cov.shape[0]:
            raise ValueError(f"dim_x must be in [1, {cov.shape[0] - 1}], got {dim_x}")
        if not (np.all(np.isfinite(cov)) and np.allclose(cov, cov.T, rtol=0.0, atol=1e-12)):
            raise ValueError("covariance must be finite and symmetric")
        try:
            np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise ValueError("covariance must be positive definite") from None
        cov.setflags(write=False)
        object.__setattr__(self, "covariance", cov)
        object.__setattr__(self, "dim_x", dim_x)
        object.__setattr__(self, "dim_y", cov.shape[0] - dim_x)

    @cached_property
    def _factors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower Cholesky factors of S, S_xx and S_yy."""
        s, dx = self.covariance, self.dim_x
        return np.linalg.cholesky(s), np.linalg.cholesky(s[:dx, :dx]), np.linalg.cholesky(s[dx:, dx:])

    @cached_property
    def mutual_information(self) -> float:
        """I(X; Y) in nats, from the canonical correlations."""
        rho = canonical_correlations(self.covariance, self.dim_x)
        return gaussian_mi_from_correlations(rho)

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` independent pairs: returns (x, y), float64 arrays of shapes (n, dim_x) and (n, dim_y)."""
        n = check_sample_count(n)
        z = np.random.default_rng(seed).standard_normal((n, self.dim_x + self.dim_y)) @ self._factors[0].T
        return z[:, : self.dim_x], z[:, self.dim_x :]

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The pointwise MI log p(x, y) - log p(x) - log p(y) of every row (nats), shape (n,)."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        joint, lx, ly = self._factors
        return gaussian_log_density(np.hstack([x, y]), joint) - gaussian_log_density(x, lx) - gaussian_log_density(y, ly)

    def params(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-ready: ``MultinormalPair(**s.params())`` is the same pair."""
        return {"covariance": self.covariance.tolist(), "dim_x": self.dim_x}


def _block_covariance(dim: int, within: float) -> np.ndarray:
    """The equicorrelated block: ones on the diagonal, ``within`` off it."""
    return (1.0 - within) * np.eye(dim) + within * np.ones((dim, dim))


def multinormal_covariance(
    mi: float,
    dim_x: int,
    dim_y: int,
    structure: Structure = "dense",
    within: float | None = None,
    interacting: int | None = None,
) -> np.ndarray:
    r"""The joint covariance of a benchmark-mi multinormal task whose MI is ``mi`` nats.

    S_xx and S_yy have unit variances and correlation ``within`` between any two coordinates of a
    block; the cross block is alpha C, with C all ones (``dense``: every X-Y pair correlated alike) or
    ones on the first ``interacting`` (x_i, y_i) pairs (``sparse``). With sigma_i the singular values
    of L_x^{-1} C L_y^{-T}, the canonical correlations are alpha sigma_i, so
    I(alpha) = -1/2 sum_i log(1 - alpha^2 sigma_i^2) rises from 0 to infinity on
    (0, 1 / sigma_max), the positive-definite range; alpha is its root (Brent, to rounding).

    Arguments:
        mi: the MI wanted, nats, > 0.
        dim_x, dim_y: the dimensions of X and Y.
        structure: ``"dense"`` or ``"sparse"``.
        within: the correlation inside each block (default 0.5 for dense, as bmi's dense tasks; 0 for
            sparse); it must keep the blocks positive definite, in (-1 / (d - 1), 1).
        interacting: for sparse, how many pairs (x_i, y_i) are correlated, 1..min(dim_x, dim_y)
            (default min(2, dim_x, dim_y)); dense takes none.

    Returns:
        S, shape (dim_x + dim_y, dim_x + dim_y).

    Example:
        >>> s = multinormal_covariance(1.0, 2, 2, "sparse")
        >>> bool(np.allclose(s[:2, :2], np.eye(2))), round(-math.log(1 - s[0, 2] ** 2), 12)
        (True, 1.0)
    """
    if not (isinstance(mi, (int, float)) and math.isfinite(mi) and mi > 0):
        raise ValueError(f"mi must be finite and > 0, got {mi!r}")
    dim_x, dim_y = check_dim(dim_x, "dim_x"), check_dim(dim_y, "dim_y")
    if structure not in ("dense", "sparse"):
        raise ValueError(f"structure must be 'dense' or 'sparse', got {structure!r}")
    if within is None:
        within = 0.5 if structure == "dense" else 0.0
    within = float(within)
    largest = max(dim_x, dim_y)
    low = -1.0 / (largest - 1) if largest > 1 else -math.inf
    if not (low < within < 1.0):
        raise ValueError(
            f"within must lie in ({low:.4g}, 1) so that a {largest}-dimensional block is positive definite, got {within!r}"
        )
    cross = np.zeros((dim_x, dim_y))
    if structure == "dense":
        if interacting is not None:
            raise ValueError("interacting applies only to structure 'sparse' (dense correlates every X-Y pair)")
        cross[:] = 1.0
    else:
        k = min(2, dim_x, dim_y) if interacting is None else interacting
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= min(dim_x, dim_y):
            raise ValueError(f"interacting must be an integer in [1, {min(dim_x, dim_y)}] (= min(dim_x, dim_y)), got {k!r}")
        cross[np.arange(k), np.arange(k)] = 1.0
    sxx, syy = _block_covariance(dim_x, within), _block_covariance(dim_y, within)
    lx, ly = np.linalg.cholesky(sxx), np.linalg.cholesky(syy)
    whitened = solve_triangular(lx, solve_triangular(ly, cross.T, lower=True).T, lower=True)
    sigma = np.linalg.svd(whitened, compute_uv=False)
    ratio = sigma[sigma > 1e-12 * sigma[0]] / sigma[0]  # canonical correlations / the largest

    def excess(t: float) -> float:  # I at alpha = t / sigma_max, minus the target
        return -0.5 * float(np.sum(np.log1p(-((t * ratio) ** 2)))) - mi

    t_max = math.sqrt(1.0 - _MIN_ONE_MINUS_RHO2)
    reachable = excess(t_max) + mi
    if reachable < mi:
        raise ValueError(
            f"mi={mi} is beyond what a positive-definite covariance of structure {structure!r} reaches at "
            f"dims {dim_x}+{dim_y}: at most {reachable:.4g} nats before it is singular to rounding "
            f"(largest canonical correlation with 1 - rho^2 >= {_MIN_ONE_MINUS_RHO2:g})"
        )
    t = brentq(excess, 0.0, t_max, xtol=1e-16, rtol=4 * np.finfo(float).eps, maxiter=500)
    alpha = t / sigma[0]
    return np.block([[sxx, alpha * cross], [alpha * cross.T, syy]])


@dataclass(frozen=True)
class MultinormalOptions:
    """Parameters of ``multinormal`` besides the true MI."""

    dim_x: int = field(default=2, metadata={"help": "dimension of x"})
    dim_y: int = field(default=2, metadata={"help": "dimension of y"})
    structure: Structure = field(
        default="dense", metadata={"help": "dense: every x-y pair correlated alike; sparse: the first pairs (x_i, y_i)"}
    )
    within: float | None = field(
        default=None, metadata={"help": "correlation inside the x block and the y block (default 0.5 dense, 0 sparse)"}
    )
    interacting: int | None = field(
        default=None, metadata={"help": "sparse only: how many pairs (x_i, y_i) are correlated (default min(2, dims))"}
    )


@register_sampler("multinormal", options=MultinormalOptions, summary="jointly Gaussian x, y: dense or sparse cross-covariance (bmi)")
def multinormal(
    mi: float,
    dim_x: int = 2,
    dim_y: int = 2,
    structure: Structure = "dense",
    within: float | None = None,
    interacting: int | None = None,
) -> MultinormalPair:
    """The benchmark-mi multinormal task with I(X; Y) = ``mi`` nats (see :func:`multinormal_covariance`).

    Arguments:
        mi: the true MI, nats.
        dim_x, dim_y, structure, within, interacting: as :func:`multinormal_covariance`.

    Returns:
        The :class:`MultinormalPair`.

    Example:
        >>> s = multinormal(1.5, dim_x=5, dim_y=5, structure="dense"); abs(s.mutual_information - 1.5) < 1e-12
        True
    """
    cov = multinormal_covariance(mi, dim_x, dim_y, structure, within, interacting)
    return MultinormalPair(cov, dim_x=dim_x)


# ---- the task list ----

TASK_FAMILIES: tuple[str, ...] = ("multinormal", "marginal", "spiral", "student-t", "mixture")
"""The families of :data:`MI_TASKS`, in the order the tables show them."""


@dataclass(frozen=True)
class MITask:
    """One known-MI task: a registered sampler, its true MI and its options.

    Arguments:
        name: the task's unique name.
        family: one of :data:`TASK_FAMILIES`.
        sampler: a name of :data:`synthetic.SAMPLERS`.
        mi: the MI the sampler is built for, nats (a mixture's true MI is its Monte-Carlo value,
            ``build().mutual_information``, within a few standard errors of this).
        options: the sampler's other options.

    Example:
        >>> t = MITask("toy", "multinormal", "multinormal", 0.5, {"dim_x": 1, "dim_y": 1})
        >>> round(t.build().mutual_information, 12)
        0.5
    """

    name: str
    family: str
    sampler: str
    mi: float
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def build(self) -> KnownMISampler:
        """The sampler, built through the registry: ``get_sampler(sampler, mi=mi, **options)``.

        Returns:
            A :class:`contracts.KnownMISampler` with ``pmi(x, y)``.
        """
        return get_sampler(self.sampler, mi=self.mi, **dict(self.options))


def _dims(d: int) -> dict[str, int]:
    return {"dim_x": d, "dim_y": d}


MI_TASKS: tuple[MITask, ...] = (
    # multinormal: bmi's dense (within-block correlation 0.5) and sparse (2 interacting pairs) tasks
    MITask("multinormal-dense-2x2", "multinormal", "multinormal", 0.5, {**_dims(2), "structure": "dense"}),
    MITask("multinormal-sparse-2x2", "multinormal", "multinormal", 1.0, {**_dims(2), "structure": "sparse"}),
    MITask("multinormal-dense-5x5", "multinormal", "multinormal", 1.0, {**_dims(5), "structure": "dense"}),
    MITask("multinormal-sparse-5x5", "multinormal", "multinormal", 1.5, {**_dims(5), "structure": "sparse"}),
    MITask("multinormal-dense-25x25", "multinormal", "multinormal", 1.0, {**_dims(25), "structure": "dense"}),
    MITask("multinormal-sparse-25x25", "multinormal", "multinormal", 2.0, {**_dims(25), "structure": "sparse"}),
    # marginal: coordinate-wise strictly increasing maps of a multinormal
    MITask("half-cube-1x1", "marginal", "half-cube", 0.5, _dims(1)),
    MITask("half-cube-5x5", "marginal", "half-cube", 1.0, {**_dims(5), "structure": "sparse"}),
    MITask("asinh-multinormal-3x3", "marginal", "asinh", 1.0, {**_dims(3), "structure": "dense"}),
    MITask("normal-cdf-2x2", "marginal", "normal-cdf", 1.0, {**_dims(2), "structure": "sparse"}),
    MITask("wiggly-1x1", "marginal", "wiggly", 0.75, _dims(1)),
    MITask("wiggly-5x5", "marginal", "wiggly", 1.5, {**_dims(5), "structure": "sparse"}),
    # spiral: maps that mix coordinates, which no coordinate-wise transform undoes
    MITask("spiral-3x3", "spiral", "spiral", 1.0, {**_dims(3), "structure": "sparse"}),
    MITask("spiral-5x5", "spiral", "spiral", 1.5, {**_dims(5), "structure": "sparse"}),
    MITask("bend-and-mix-5x5", "spiral", "bend-and-mix", 1.0, {**_dims(5), "structure": "sparse"}),
    # student-t: heavy tails; the shared scale makes X and Y dependent beyond the Gaussian part
    MITask("student-t-df1-1x1", "student-t", "student-t", 0.5, {"df": 1.0, "dim": 1}),
    MITask("student-t-df2-2x2", "student-t", "student-t", 1.0, {"df": 2.0, "dim": 2}),
    MITask("student-t-df3-5x5", "student-t", "student-t", 2.0, {"df": 3.0, "dim": 5}),
    MITask("asinh-student-t-df1-2x2", "student-t", "asinh", 1.0, {"base": "student-t", "df": 1.0, **_dims(2)}),
    MITask("asinh-student-t-df2-5x5", "student-t", "asinh", 1.5, {"base": "student-t", "df": 2.0, **_dims(5)}),
    # mixture: MI by Monte Carlo of the exact PMI (Czyż et al. 2024)
    MITask("mixture-x-1x1", "mixture", "mixture-x", 0.5, {}),
    MITask("mixture-x-1x1-high", "mixture", "mixture-x", 1.25, {}),
    MITask("mixture-clusters-1x1", "mixture", "mixture-clusters", 0.5, _dims(1)),
    MITask("mixture-clusters-2x2", "mixture", "mixture-clusters", 1.0, _dims(2)),
    MITask("mixture-clusters-5x5", "mixture", "mixture-clusters", 1.0, _dims(5)),
)
"""The known-MI tasks (nats), in the families of :data:`TASK_FAMILIES`."""


def task_names() -> list[str]:
    """The names of :data:`MI_TASKS`, in order.

    Returns:
        The list of names.

    Example:
        >>> task_names()[0]
        'multinormal-dense-2x2'
    """
    return [t.name for t in MI_TASKS]


def get_task(name: str) -> MITask:
    """The task called ``name``.

    Arguments:
        name: one of :func:`task_names`.

    Returns:
        The :class:`MITask`; ValueError naming the known tasks for any other name.

    Example:
        >>> get_task("spiral-3x3").sampler
        'spiral'
    """
    for task in MI_TASKS:
        if task.name == name:
            return task
    raise ValueError(f"name must be one of the tasks {', '.join(task_names())}, got {name!r}")
