"""Fitting an entropy-constrained TCQ: the grid-step search and the Lloyd iterations of its pmfs and points.

Fischer & Wang 1992 (IEEE Trans. IT 38(2), sec. III) design ECTCQ as Chou, Lookabaugh & Gray's
entropy-constrained VQ (1989) is designed: alternate (1) the encoder, the Viterbi search minimising
J = D + beta * R with the current code lengths, and (2) the tables, the union codebooks' pmfs re-estimated
from the counts of the indices chosen (and, optionally, each reconstruction point moved to the centroid
of the samples it coded). Step (1) minimises J over the paths for fixed tables; step (2) minimises it over
the tables for the fixed path (the empirical pmf minimises the code length, the centroid the squared
error), so J does not increase, except for what the pmf's floor costs: after an update from counts
n_um, the next J is at most the current one plus beta * KL(empirical || floored pmf), recorded as
:attr:`FitStep.floor_cost`. The candidate points the search weighs are chosen on the grid (never from
the moving centroids), so the previous path stays feasible and the argument holds exactly.

The grid step Delta is chosen per coordinate by J on the training data: a geometric grid on log Delta,
then a finer grid around its best point, each point with a few Lloyd iterations of its own (all points
searched at once, as rows of one Viterbi search).

Example:
    >>> rows, lengths, group = rows_of(np.arange(10.0).reshape(5, 2), block=2)
    >>> rows.tolist(), lengths.tolist(), group.tolist()
    ([[0.0, 2.0], [4.0, 6.0], [8.0, 0.0], [1.0, 3.0], [5.0, 7.0], [9.0, 0.0]], [2, 2, 1, 2, 2, 1], [0, 0, 0, 1, 1, 1])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from ibflow.vector.trellis import SearchResult, SearchTables, Trellis, trellis_search

__all__ = ["FLOOR_COUNT", "FitStep", "rows_of", "table_arrays", "gaussian_tables", "fit_tables"]

FLOOR_COUNT = 0.5  # pseudo-count of every index in the support (Krichevsky-Trofimov's 1/2)
_SEARCH_ITERATIONS = 3  # Lloyd iterations behind each point of the step search
_COARSE, _FINE = 12, 9  # points of the coarse grid on log Delta, and of the finer one around its best
_MARGIN = 0.25  # the support reaches this fraction of the training range beyond each end
_SEARCH_BLOCK = 1024  # blocks of the step search: a quarter of the time steps, and J barely changes

Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # step (G,), points, pmf (G, 2, L), support (G, 2, 2)


@dataclass(frozen=True)
class FitStep:
    """One Lloyd iteration of :func:`fit_tables` at the chosen step, per sample and summed over
    coordinates: ``lagrangian`` = ``distortion`` + beta * ``rate`` (nats, the code lengths the search used)
    of that iteration's encoding, and ``floor_cost`` = beta * KL(empirical || floored pmf) of the update
    that followed it: the next iteration's lagrangian is at most this one's plus it."""

    lagrangian: float
    distortion: float
    rate: float
    floor_cost: float


def rows_of(y: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut each column of y (n, G) into blocks of ``block`` samples: rows (G * B, T) with T = min(block, n),
    row g * B + b the b-th block of column g (the last one padded with zeros), their lengths and columns."""
    n, columns = y.shape
    steps = min(block, n)
    blocks = -(-n // steps) if steps else 0
    padded = np.zeros((columns, blocks * steps))
    padded[:, :n] = y.T
    lengths = np.full((columns, blocks), steps, dtype=np.int64)
    if blocks:
        lengths[:, -1] = n - (blocks - 1) * steps
    group = np.repeat(np.arange(columns, dtype=np.int64), blocks)
    return padded.reshape(columns * blocks, steps), lengths.reshape(-1), group


def _code_length(pmf: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -np.log(pmf)  # inf outside the support, where the search never looks


def table_arrays(step: Tensor, points: Tensor, pmf: Tensor, support: Tensor) -> SearchTables:
    """The :class:`~ibflow.vector.trellis.SearchTables` of a codec's buffers."""
    p = pmf.detach().cpu().numpy()
    return SearchTables(step.detach().cpu().numpy(), points.detach().cpu().numpy(), _code_length(p), support.detach().cpu().numpy())


def _grid_points(step: np.ndarray, levels: int) -> np.ndarray:
    """(G, 2, L): point (2 m + u) * Delta of index m = position - L // 2 of union codebook u."""
    m = np.arange(levels) - levels // 2
    return (2 * m[None, None, :] + np.arange(2)[None, :, None]) * step[:, None, None]


def _floored(counts: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The pmf per union codebook: counts + FLOOR_COUNT on the support, 0 outside, normalised."""
    mass = np.where(inside, counts + FLOOR_COUNT, 0.0)
    return mass / mass.sum(-1, keepdims=True)


def _inside(support: np.ndarray, levels: int) -> np.ndarray:
    m = np.arange(levels) - levels // 2
    return (m >= support[..., :1]) & (m <= support[..., 1:])


def gaussian_tables(dim: int, levels: int) -> Tables:
    """The tables of an unfitted codec: Delta = 1/2, points on the grid, pmfs of N(0, 1) over each union
    codebook's cells (width 2 Delta, support |point| <= 6), floored as :func:`fit_tables` floors them."""
    step = np.full(dim, 0.5)
    points = _grid_points(step, levels)
    support = np.zeros((dim, 2, 2), dtype=np.int64)
    for u in (0, 1):
        support[:, u] = [max(-(levels // 2), math.ceil((-12 - u) / 2)), min(levels // 2 - 1, (12 - u) // 2)]
    erf = np.frompyfunc(math.erf, 1, 1)
    cdf = lambda v: 0.5 * (1 + erf(v / math.sqrt(2)).astype(np.float64))  # noqa: E731
    mass = cdf(points + 0.5) - cdf(points - 0.5)
    pmf = _floored(mass * 2**17, _inside(support, levels))  # the floor of 2^17 training samples
    return step, points, pmf, support


def _initial(y: np.ndarray, step: np.ndarray, levels: int) -> Tables:
    """Tables for columns y (n, G) at steps (G,): the support covers the training range and a margin (and
    the points 0 and +-Delta, so that rate zero is reachable); pmfs from each union codebook's nearest
    points; points on the grid."""
    half = levels // 2
    low, high = y.min(0), y.max(0)
    margin = _MARGIN * (high - low)
    support = np.zeros((len(step), 2, 2), dtype=np.int64)
    counts = np.zeros((len(step), 2, levels))
    for u in (0, 1):
        lo = np.ceil(((low - margin) / step - u) / 2)
        hi = np.floor(((high + margin) / step - u) / 2)
        support[:, u, 0] = np.clip(np.minimum(lo, -1), -half, half - 1)
        support[:, u, 1] = np.clip(np.maximum(hi, 0), -half, half - 1)
        m = np.clip(np.rint((y / step - u) / 2), support[:, u, 0], support[:, u, 1]).astype(np.int64)
        flat = np.arange(len(step)) * levels + m + half
        counts[:, u] = np.bincount(flat.reshape(-1), minlength=len(step) * levels).reshape(len(step), levels)
    return step, _grid_points(step, levels), _floored(counts, _inside(support, levels)), support


def _encode(rows: np.ndarray, lengths: np.ndarray, group: np.ndarray, tables: Tables, beta: float, trellis: Trellis,
            candidates: int) -> SearchResult:
    step, points, pmf, support = tables
    return trellis_search(rows, lengths, group, SearchTables(step, points, _code_length(pmf), support), beta, trellis, candidates)


def _lloyd(
    y: np.ndarray, tables: Tables, beta: float, trellis: Trellis, block: int, candidates: int, centroids: bool,
    iterations: int,
) -> tuple[Tables, list[np.ndarray], np.ndarray]:
    """``iterations`` Lloyd iterations on the columns y (n, G): the tables after the last update, per
    iteration the (D, R, floor cost) per column (3, G), and the last encoding's J per column (G,)."""
    n, columns = y.shape
    rows, lengths, group = rows_of(y, block)
    step, points, pmf, support = tables
    levels = points.shape[-1]
    valid = np.arange(rows.shape[1])[None, :] < lengths[:, None]
    inside = _inside(support, levels)
    history = []
    J = np.zeros(columns)
    for _ in range(iterations):
        result = _encode(rows, lengths, group, (step, points, pmf, support), beta, trellis, candidates)
        D = np.bincount(group, result.squared_error, minlength=columns) / n
        R = np.bincount(group, result.code_length, minlength=columns) / n
        J = D + beta * R
        flat = ((group[:, None] * 2 + result.union) * levels + result.index + levels // 2)[valid]
        counts = np.bincount(flat, minlength=columns * 2 * levels).reshape(columns, 2, levels).astype(np.float64)
        pmf = _floored(counts, inside)
        # beta * KL(empirical || floored pmf) per sample: what the floor may add to the next J
        with np.errstate(divide="ignore", invalid="ignore"):
            empirical = counts / counts.sum(-1, keepdims=True)
            kl = np.where(counts > 0, counts * np.log(np.where(counts > 0, empirical, 1.0) / pmf), 0.0)
        history.append(np.stack([D, R, beta * kl.sum((1, 2)) / n]))
        if centroids:
            sums = np.bincount(flat, weights=rows[valid], minlength=columns * 2 * levels).reshape(columns, 2, levels)
            points = np.where(counts > 0, sums / np.maximum(counts, 1), points)
    return (step, points, pmf, support), history, J


def fit_tables(
    y: np.ndarray, beta: float, trellis: Trellis, levels: int, block: int, iterations: int, candidates: int,
    centroids: bool, search_samples: int,
) -> tuple[Tables, list[FitStep]]:
    """Fit the tables of every column of y, the centred, rotated training samples, at ``beta``: the step
    search on the first ``search_samples`` samples, then ``iterations`` Lloyd iterations on all of them at
    the chosen steps (module docstring).

    Arguments:
        y: (n, dim) float64 training samples, one coordinate per column.
        beta: Lagrange multiplier of D + beta R (R in nats), > 0.
        trellis: the trellis searched (:func:`~ibflow.vector.trellis.ungerboeck_trellis`).
        levels: indices per union codebook (even).
        block: samples per trellis block of the Lloyd iterations (the search uses at most 1024).
        iterations: Lloyd iterations at the chosen steps, >= 1.
        candidates: points per subset weighed on each branch (odd).
        centroids: whether the updates move the points to their centroids.
        search_samples: how many of the samples the step search uses.

    Returns:
        The tables (step (dim,), points and pmf (dim, 2, levels), support (dim, 2, 2)) and one
        :class:`FitStep` per Lloyd iteration at the chosen steps.
    """
    n, dim = y.shape
    scale = np.maximum(y.std(0), 1e-12)
    root = math.sqrt(beta)
    sub = y[:search_samples]
    low, high = 0.5 * np.minimum(root, scale), 4.0 * np.maximum(root, scale)
    ratio = (high / low) ** (1 / (_COARSE - 1))
    coarse = low[:, None] * ratio[:, None] ** np.arange(_COARSE)
    short = min(block, _SEARCH_BLOCK)
    best = _search_grid(sub, coarse, beta, trellis, levels, short, candidates, centroids)
    fine = best[:, None] * ratio[:, None] ** np.linspace(-1, 1, _FINE)
    chosen = _search_grid(sub, fine, beta, trellis, levels, short, candidates, centroids)
    tables, history, _ = _lloyd(y, _initial(y, chosen, levels), beta, trellis, block, candidates, centroids, iterations)
    steps = []
    for D, R, floor in history:
        steps.append(FitStep(float((D + beta * R).sum()), float(D.sum()), float(R.sum()), float(floor.sum())))
    return tables, steps


def _search_grid(
    y: np.ndarray, steps: np.ndarray, beta: float, trellis: Trellis, levels: int, block: int, candidates: int,
    centroids: bool,
) -> np.ndarray:
    """The step of ``steps`` (dim, K) with the least J per coordinate, each after a few Lloyd iterations;
    all dim * K (coordinate, step) pairs are columns of one search."""
    dim, k = steps.shape
    columns = np.repeat(y, k, axis=1)  # column c * K + j: coordinate c at step j
    flat = steps.reshape(-1)
    _, _, J = _lloyd(columns, _initial(columns, flat, levels), beta, trellis, block, candidates, centroids, _SEARCH_ITERATIONS)
    return steps[np.arange(dim), J.reshape(dim, k).argmin(1)]

