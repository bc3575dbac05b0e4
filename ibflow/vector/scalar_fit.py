"""Fitting quantizers to samples on D + beta R: the dead-zone scalar quantizer's cells, its Lagrangian on
sorted data, the grid-and-golden-section search of its step and dead zone; and the argument checks the
quantizer codecs share (one wording for a bad ``x`` or ``beta``).

Example:
    >>> y = np.random.default_rng(0).standard_normal(20000)
    >>> fit = fit_scalar_quantizer(y, beta=0.1)  # high rate: step ~ sqrt(6 beta) = 0.77, D ~ beta / 2
    >>> round(fit.step, 1), bool(fit.zone / fit.step > 0.5)
    (0.8, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["ScalarFit", "cell_numbers", "scalar_objective", "fit_scalar_quantizer", "check_input", "check_beta", "MAX_RATIO"]

GOLDEN = (math.sqrt(5) - 1) / 2
MAX_RATIO = 3.0  # widest dead zone searched, in steps (the Laplace optimum is below 1.5 at the rates studied)


def check_input(x: Tensor, dim: int) -> Tensor:
    """``x`` if it is a finite floating tensor of shape (n, dim), else :class:`ValueError` naming it."""
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, {dim}), got {shape}")
    if not x.is_floating_point() or not bool(torch.isfinite(x).all()):
        raise ValueError("x must be a finite floating-point tensor")
    return x


def check_beta(beta: float) -> float:
    """``beta`` as a float if it is a finite number > 0, else :class:`ValueError` naming it."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a finite number > 0 (nats of rate per unit distortion), got {beta!r}")
    return float(beta)


def cell_numbers(y: np.ndarray, step: float, zone: float) -> np.ndarray:
    """The signed cell of each value, cells closed on the left: the thresholds are
    +-(zone / 2 + m step), m = 0, 1, ..., cell 0 is [-zone / 2, zone / 2) (empty for zone 0), cell j >= 1 is
    [zone / 2 + (j - 1) step, zone / 2 + j step) and cell -j its mirror image shifted to close on the left.

    Example:
        >>> cell_numbers(np.array([-1.3, -0.25, 0.0, 0.25, 0.9]), 0.5, 0.5).tolist()
        [-3, 0, 0, 1, 2]
        >>> cell_numbers(np.array([-0.1, 0.0, 0.1]), 0.5, 0.0).tolist()  # midrise: zero starts cell 1
        [-1, 1, 1]
    """
    y = np.asarray(y, dtype=np.float64)
    above = 1 + np.floor((y - zone / 2) / step)
    below = -np.ceil((-zone / 2 - y) / step)
    return np.where(y >= zone / 2, above, np.where(y < -zone / 2, below, 0.0)).astype(np.int64)


def scalar_objective(sorted_y: np.ndarray, sums: tuple[np.ndarray, np.ndarray], step: float, zone: float, beta: float) -> float:
    """D + beta H (nats) of the centroid quantizer (``step``, ``zone``) on the sorted data: D the mean
    squared error about each cell's centroid, H the empirical entropy of the cells. ``sums`` are the
    prefix sums of y and y^2, with a leading 0."""
    n = len(sorted_y)
    reach = max(abs(sorted_y[0]), abs(sorted_y[-1]))
    m = np.arange(int(reach // step) + 2) * step + zone / 2
    # the cells of :func:`cell_numbers`, closed on the left: a value equal to a threshold goes above it
    edges = np.concatenate([[0], np.searchsorted(sorted_y, np.concatenate([-m[::-1], m]), side="left"), [n]])
    s1, s2 = sums
    count = np.diff(edges).astype(np.float64)
    first, second = np.diff(s1[edges]), np.diff(s2[edges])
    used = count > 0
    distortion = np.sum(second[used] - first[used] ** 2 / count[used]) / n
    p = count[used] / n
    return float(max(distortion, 0.0) - beta * np.sum(p * np.log(p)))


def _golden(f: Callable[[float], float], lo: float, hi: float, iterations: int = 24) -> tuple[float, float]:
    """(argmin, min) of f on [lo, hi] by golden-section search (a local search: the bracket comes from a grid)."""
    a, b = lo, hi
    c, d = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + GOLDEN * (b - a)
            fd = f(d)
    return (c, fc) if fc <= fd else (d, fd)


class ScalarFit(NamedTuple):
    """The fitted quantizer of one coordinate: step, central-cell width, D + beta H on the training data
    (nats); and the search grid (steps, ratios zone / step) with the objective at every grid point."""

    step: float
    zone: float
    objective: float
    grid_steps: np.ndarray
    grid_ratios: np.ndarray
    grid_objective: np.ndarray


def fit_scalar_quantizer(y: np.ndarray, beta: float, dead_zone: bool = True, steps: int = 61, ratios: int = 31) -> ScalarFit:
    """(step, zone) minimising D + beta H on the training values ``y``: a grid of ``steps`` log-spaced
    steps from min(sd / 100, sqrt(6 beta) / 4) (a quarter of the high-rate optimum, D = step^2 / 12 = beta / 2)
    to 8 sd, times ``ratios`` dead-zone widths from 0 to 3 steps (only the midtread ratio 1 without
    ``dead_zone``); then golden-section searches over log step and ratio within one grid cell of the
    best point, alternating twice. The objective is piecewise smooth in the thresholds (it jumps where
    one crosses a sample), so the grid finds the basin and the searches refine it; the result is never
    worse than the best grid point (the smaller of the two is kept)."""
    y = np.sort(np.asarray(y, dtype=np.float64))
    sums = (np.concatenate([[0.0], np.cumsum(y)]), np.concatenate([[0.0], np.cumsum(y * y)]))
    sd = float(y.std())
    if not sd > 0:  # a constant coordinate: one cell holds it all, at no rate and no distortion
        empty = np.zeros(0)
        return ScalarFit(1.0, 1.0, 0.0, empty, empty, np.zeros((0, 0)))
    log_steps = np.linspace(math.log(min(sd / 100, math.sqrt(6 * beta) / 4)), math.log(8 * sd), steps)
    grid_ratios = np.linspace(0.0, MAX_RATIO, ratios) if dead_zone else np.array([1.0])
    J = np.array([[scalar_objective(y, sums, math.exp(s), r * math.exp(s), beta) for r in grid_ratios] for s in log_steps])
    i, j = np.unravel_index(int(np.argmin(J)), J.shape)
    best = (float(J[i, j]), float(log_steps[i]), float(grid_ratios[j]))
    log_step, ratio = best[1], best[2]
    dlog = log_steps[1] - log_steps[0]
    dratio = grid_ratios[1] - grid_ratios[0] if len(grid_ratios) > 1 else 0.0
    def objective(log_step: float, ratio: float) -> float:
        return scalar_objective(y, sums, math.exp(log_step), ratio * math.exp(log_step), beta)

    for _ in range(2):
        log_step, value = _golden(functools.partial(objective, ratio=ratio), log_step - dlog, log_step + dlog)
        if dratio > 0:
            low, high = max(0.0, ratio - dratio), min(MAX_RATIO, ratio + dratio)
            ratio, value = _golden(functools.partial(objective, log_step), low, high)
        if value < best[0]:
            best = (value, log_step, ratio)
    step = math.exp(best[1])
    return ScalarFit(step, best[2] * step, best[0], np.exp(log_steps), grid_ratios, J)
