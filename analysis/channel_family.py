"""python -m analysis.channel_family: the best test channel of a FlowCodec's family, on a grid, against R(D).

Why. A 1-D FlowCodec's test channel is Z = f(X) + sigma N(0, 1) with a monotone flow f, read out by a
decoder; its channel loss I(X; Z) - R(D) (rd_gap's decomposition) is the price of that form. This study
finds the best channel of the wider family

    Z = f(X) + sigma(X) N(0, 1),  f any function (monotone or not), sigma fixed or any function,

for a 1-D source: X on a fine grid with its exact masses, Z on a fine grid, I(X; Z) and the MMSE
distortion E (X - E[X | Z])^2 computed exactly there, and f (and log sigma) optimised as free values at
every grid point by Adam on D + beta I (nats), from several starts. Where its loss at beta is what the
FlowCodec's channel loses at that beta, the FlowCodec is at the family's best and no capacity or
training can close the gap: only a different channel form can.

What it is not: a proof. The optimiser may stop at a local optimum, so its loss is an achieved value,
an upper bound on the family's best. The grid (x spacing 0.034 standard deviations by default) changes
I and D by less than 1e-3 of their values (``tests/analysis/test_channel_family.py`` checks a linear
channel against the closed form I = 1/2 log(1 + a^2 s^2), D = s^2 / (1 + a^2 s^2)).

    python -m analysis.channel_family --source laplace --betas 1 2 3
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from analysis.cli import check_output_file, require_at_least, require_positive
from analysis.report import write_report
from synthetic import get_source

__all__ = ["ChannelGrid", "GridChannel", "channel_terms", "best_channel", "main"]

STARTS = ("identity", "two", "three", "three-wide", "four")
"""Where f starts, s the source's sd: f(x) = 2 x / s (a linear channel), or a staircase of 2, 3 (steps at
+-0.7 s or +-1.2 s) or 4 plateaus (steps at 0 and +-s), 3 tanh(4 (x / s - t)) per step t. Low-rate optima
of a non-Gaussian source are staircases with few plateaus (Rose 1994: few reproduction points), and
Adam keeps the number of plateaus it starts with: one start per count."""


def _start(name: str, u: Tensor) -> Tensor:
    """f at the start ``name`` (:data:`STARTS`) of the standardised grid ``u = x / s``."""
    steps = {"two": (0.0,), "three": (-0.7, 0.7), "three-wide": (-1.2, 1.2), "four": (-1.0, 0.0, 1.0)}
    if name == "identity":
        return 2 * u
    if name not in steps:
        raise ValueError(f"start must be one of {', '.join(STARTS)}, got {name!r}")
    return sum((3 * torch.tanh(4 * (u - t)) for t in steps[name]), torch.zeros_like(u))


@dataclass(frozen=True)
class ChannelGrid:
    """X's grid points ``x`` (n,) and their masses ``p`` (n,), float64, and the Z grid's size ``nz``."""

    x: Tensor
    p: Tensor
    nz: int

    @classmethod
    def for_source(cls, source: Any, points: int = 701, nz: int = 600, width: float = 12.0) -> ChannelGrid:
        """``points`` equally spaced x within ``width`` standard deviations of 0, each with its mass
        proportional to the source's density there."""
        if source.dim != 1:
            raise ValueError(f"the channel family is 1-D: the source has dim {source.dim}")
        half = width * math.sqrt(float(source.variance()[0]))
        x = torch.linspace(-half, half, points, dtype=torch.float64)
        log_p = source.log_prob(x[:, None]).to(torch.float64)
        p = torch.softmax(log_p, 0)
        return cls(x, p, nz)


def channel_terms(grid: ChannelGrid, f: Tensor, log_sigma: Tensor) -> tuple[Tensor, Tensor]:
    """(I(X; Z) in nats, the MMSE distortion) of Z = f(X) + exp(log_sigma(X)) N(0, 1) on the grid:
    q(z | x) is the normal density on an equally spaced Z grid wide enough for every f(x) +- 8 sigma(x),
    normalised per x; both terms are differentiable in f and log_sigma."""
    sigma = log_sigma.exp()
    low = float((f - 8 * sigma).min().detach())
    high = float((f + 8 * sigma).max().detach())
    z = torch.linspace(low, high, grid.nz, dtype=torch.float64)
    log_q = -0.5 * ((z[None, :] - f[:, None]) / sigma[:, None]) ** 2 - log_sigma[:, None]
    log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True)  # the grid's q(z | x), each row summing to 1
    joint = grid.p[:, None] * log_q.exp()
    log_pz = torch.log(joint.sum(0).clamp_min(1e-300))
    information = (joint * (log_q - log_pz[None, :])).sum()
    x_hat = (joint * grid.x[:, None]).sum(0) / log_pz.exp()
    distortion = (joint * (grid.x[:, None] - x_hat[None, :]) ** 2).sum()
    return information, distortion


@dataclass
class GridChannel:
    """The best channel found at ``beta``: its distortion, I(X; Z) (nats), where it started, and what
    every start ended at (``tried``: start, distortion, information, objective)."""

    beta: float
    heteroscedastic: bool
    distortion: float
    information: float
    start: str
    tried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def objective(self) -> float:
        return self.distortion + self.beta * self.information


def best_channel(
    grid: ChannelGrid, beta: float, heteroscedastic: bool = False, steps: int = 2000, lr: float = 0.05,
    starts: Sequence[str] = STARTS,
) -> GridChannel:
    """Minimise D + beta I over f (and log sigma if ``heteroscedastic``; else sigma = 1, which loses
    nothing: f's scale sets the signal-to-noise ratio) from each of ``starts``, with Adam and a cosine
    decay of ``lr``; the start that ends lowest wins."""
    require_positive("beta", beta)
    scale = math.sqrt(float((grid.p * grid.x**2).sum()))
    best: GridChannel | None = None
    tried: list[dict[str, Any]] = []
    for start in starts:
        f0 = _start(start, grid.x / scale)
        f = f0.clone().requires_grad_(True)
        log_sigma = torch.zeros_like(f, requires_grad=heteroscedastic)
        opt = torch.optim.Adam([f, log_sigma] if heteroscedastic else [f], lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 1e-3)
        for _ in range(steps):
            information, distortion = channel_terms(grid, f, log_sigma)
            opt.zero_grad()
            (distortion + beta * information).backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            information, distortion = channel_terms(grid, f, log_sigma)
        found = GridChannel(beta, heteroscedastic, float(distortion), float(information), start)
        tried.append({"start": start, "distortion": found.distortion, "information": found.information,
                      "objective": found.objective})
        if best is None or found.objective < best.objective:
            best = found
    assert best is not None
    best.tried = tried
    return best


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.channel_family", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="laplace", help="a registered 1-D source (default laplace)")
    p.add_argument("--betas", type=float, nargs="+", default=[1.0, 2.0, 3.0], help="rd_gap's beta: D + beta I, I in nats")
    p.add_argument("--steps", type=int, default=2000, help="Adam steps per start (default 2000)")
    p.add_argument("--points", type=int, default=701, help="X grid points (default 701)")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Print, per beta, the best homoscedastic and heteroscedastic channel's D, I and I - R(D) (bits)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        for beta in args.betas:
            require_positive("--betas", beta)
        require_at_least("--steps", args.steps, 1)
        require_at_least("--points", args.points, 64)
        if args.json:
            check_output_file("--json", args.json)
        try:  # the grid refuses a source that is not 1-D
            source = get_source(args.source)
            grid = ChannelGrid.for_source(source, points=args.points)
        except ValueError as e:
            raise ValueError(f"--source {args.source}: {e}") from None
    except ValueError as e:
        parser.error(str(e))
    rows = []
    runs = [(beta, hetero) for beta in args.betas for hetero in (False, True)]
    for beta, hetero in tqdm(runs, desc="channels", disable=args.no_progress):
        found = best_channel(grid, beta, hetero, steps=args.steps)
        rd = source.rate_distortion(found.distortion)  # nats, certified bracket
        rows.append({
            "beta": beta, "heteroscedastic": hetero, "start": found.start, "distortion": found.distortion,
            "information_bits": found.information / math.log(2),
            "loss_bits": [(found.information - rd.upper) / math.log(2), (found.information - rd.lower) / math.log(2)],
            "tried": found.tried,
        })
    print(f"source {args.source}: the best channel Z = f(X) + sigma N(0, 1) found on a {args.points}-point grid (bits)")
    print(f"{'beta':>6} {'sigma(x)':>9} {'D':>8} {'I(X;Z)':>8} {'I - R(D)':>18}")
    for r in rows:
        lo, hi = r["loss_bits"]
        print(f"{r['beta']:>6g} {'learned' if r['heteroscedastic'] else 'fixed':>9} {r['distortion']:>8.4f} "
              f"{r['information_bits']:>8.4f} [{lo:+.4f}, {hi:+.4f}]")
    if args.json:
        write_report(args.json, {"source": args.source, "points": args.points, "steps": args.steps, "unit": "bits", "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
