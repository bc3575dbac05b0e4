"""Upper and lower bounds on R(D) from samples alone: fit, evaluate held out, combine.

:func:`estimate_rd_bounds` is the whole procedure behind ``python -m analysis.rd_bounds``. For each
target D it takes the Gaussian guess of the slope (reverse water-filling on the training split's
covariance), fits a reproduction distribution per family at that slope on the training split
(:mod:`estimators.rd.upper`), measures each fitted channel's (D, R) on the evaluation split, and
forms the dual line of the family whose fit reached the lower training objective
(:mod:`estimators.rd.dual`; its peak searched on the training split). :mod:`estimators.rd.curve`
turns the points and lines into the bounds at every target D.

Splits: ``train`` fits the reproductions and locates the dual's peak; ``evaluate`` gives every
reported number, so no number is measured on the samples it was fitted on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from estimators.rd.curve import BoundAtD, lower_bounds, upper_bounds
from estimators.rd.dual import DualLine, dual_line
from estimators.rd.upper import Family, FitConfig, UpperPoint, fit_reproduction, principal_variances, upper_point, water_level_slope

__all__ = ["FAMILIES", "RDBoundsConfig", "RDBoundsResult", "estimate_rd_bounds", "slope_targets"]

FAMILIES: tuple[Family, ...] = ("gaussian", "mixture", "particles")
"""The reproduction families (:mod:`estimators.rd.upper`)."""

EXTRA_BELOW = 0.85
"""One more fit aims at this fraction of the smallest target D: a fit that lands a little above its
target leaves no achievable point at or below the smallest D, and the envelope would be infinite."""


@dataclass(frozen=True)
class RDBoundsConfig:
    """Settings of :func:`estimate_rd_bounds`.

    ``families``: the reproduction families tried at every slope (``particles`` only where the
    dimension is at most ``particles_max_dim``: K atoms carry at most log K nats, and cover little of
    a high-dimensional space). ``components`` Gaussian components, ``particles`` atoms; ``steps``
    Adam steps per fit; ``z`` the normal quantile of the intervals (1.96: 95 % pointwise).
    """

    families: tuple[Family, ...] = ("gaussian", "mixture", "particles")
    components: int = 8
    particles: int = 256
    particles_max_dim: int = 3
    steps: int = 300
    batch_size: int = 4096
    lr: float = 0.05
    dual_starts: int = 256
    dual_steps: int = 30
    z: float = 1.96
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.families:
            raise ValueError(f"families must name at least one of {FAMILIES}")
        for f in self.families:
            if f not in FAMILIES:
                raise ValueError(f"families: unknown family {f!r} (allowed: {', '.join(FAMILIES)})")
        if self.particles < 1 or self.components < 1:
            raise ValueError("components and particles must be >= 1")
        if not (self.z > 0 and math.isfinite(self.z)):
            raise ValueError(f"z must be finite and > 0, got {self.z}")
        if self.dual_starts < 1 or self.dual_steps < 0:
            raise ValueError("dual_starts must be >= 1 and dual_steps >= 0")

    def fit_config(self, family: Family) -> FitConfig:
        k = self.components if family == "mixture" else self.particles
        return FitConfig(family=family, components=k, steps=self.steps, batch_size=self.batch_size, lr=self.lr, seed=self.seed)


@dataclass
class RDBoundsResult:
    """The bounds at each target D (nats) and everything they were formed from."""

    distortions: list[float]
    upper: list[BoundAtD]
    lower: list[BoundAtD]
    points: list[UpperPoint] = field(default_factory=list)
    lines: list[DualLine] = field(default_factory=list)
    d_max: float = math.nan
    d_max_se: float = math.nan


def slope_targets(distortions: Sequence[float]) -> list[float]:
    """The D each slope is aimed at: the targets, and EXTRA_BELOW times the smallest.

    Example:
        >>> slope_targets([1.0, 2.0])
        [0.85, 1.0, 2.0]
    """
    grid = sorted(float(D) for D in distortions)
    return [EXTRA_BELOW * grid[0], *grid] if grid else []


def _families(config: RDBoundsConfig, dim: int) -> list[Family]:
    fams = [f for f in config.families if f != "particles" or dim <= config.particles_max_dim]
    if not fams:
        raise ValueError(
            f"no family applies in dimension {dim}: 'particles' is used up to dimension "
            f"{config.particles_max_dim}; add 'gaussian' or 'mixture' to families"
        )
    return fams


def estimate_rd_bounds(
    train: Tensor,
    evaluate: Tensor,
    distortions: Sequence[float],
    config: RDBoundsConfig = RDBoundsConfig(),
    progress: Callable[[str], None] | None = None,
) -> RDBoundsResult:
    """Bounds on R(D) at each of ``distortions`` from two independent splits of samples (n, d).

    Arguments:
        train: samples the reproductions are fitted on and the dual's peaks searched with.
        evaluate: held-out samples every reported number is measured on.
        distortions: target D (squared error per sample, summed over dimensions), each in
            (0, D_max) with D_max the evaluation split's total variance.
        config: the fits' settings.
        progress: called with a short message after each target D.
    """
    if train.ndim != 2 or evaluate.ndim != 2 or train.shape[1] != evaluate.shape[1]:
        raise ValueError(f"train and evaluate must be (n, d) with one d, got {tuple(train.shape)} and {tuple(evaluate.shape)}")
    if len(train) < 2 or len(evaluate) < 2:
        raise ValueError("train and evaluate need at least 2 samples each")
    xt, xe = train.double(), evaluate.double()
    dim = xt.shape[1]
    centred = (xe - xe.mean(0)).square().sum(1)
    d_max, d_max_se = float(centred.mean()), float(centred.std() / math.sqrt(len(xe)))
    for D in distortions:
        if not (0 < D < d_max):
            raise ValueError(f"distortions must lie in (0, D_max = {d_max:.6g}) (the total variance), got {D!r}")
    families = _families(config, dim)
    variances = principal_variances(xt)
    points: list[UpperPoint] = []
    lines: list[DualLine] = []
    for i, target in enumerate(slope_targets(distortions)):
        lam = water_level_slope(variances, target)
        fitted = []
        for family in families:
            model = fit_reproduction(xt, lam, config.fit_config(family))
            with torch.no_grad():
                objective = float(model.channel(xt, lam).neg_log_u.mean())
            points.append(upper_point(model, xe, lam, family))
            fitted.append((family != "particles", -objective, family, model))
        # The dual line of the continuous fit with the lower training objective (chosen without the
        # evaluation split). A discrete m is left out: its c exceeds 1 between the atoms.
        _, _, family, model = max(fitted, key=lambda t: (t[0], t[1]))
        lines.append(
            dual_line(model, xe, lam, search=xt, starts=config.dual_starts, steps=config.dual_steps, seed=config.seed + i)
        )
        if progress is not None:
            progress(f"D = {target:.4g}: lambda = {lam:.4g}, dual from {family}")
    grid = [float(D) for D in distortions]
    return RDBoundsResult(
        distortions=grid,
        upper=upper_bounds(points, grid, d_max, d_max_se, z=config.z),
        lower=lower_bounds(lines, grid, z=config.z),
        points=points,
        lines=lines,
        d_max=d_max,
        d_max_se=d_max_se,
    )
