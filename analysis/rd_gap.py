"""python -m analysis.rd_gap: train FlowCodecs across beta and show how far each is from R(D), and why."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from analysis.measure import measure_point
from analysis.parallel import run_tasks
from analysis.cli import parse_study_args
from analysis.plots import palette, styled_figure
from analysis.report import format_number, ruled_table, study_report, write_report
from ibflow import FlowCodec, TrainConfig, TrainingDiverged, train
from synthetic import SOURCES, Source, get_source

__all__ = [
    "build_parser", "main", "SweepSettings", "run_point", "run_sweep", "sweep_report", "default_betas", "format_table",
    "plot_rd_gap", "source_params",
]

GAP_TARGET_BITS = 0.02
BITS = 1.0 / math.log(2)


@dataclass
class SweepSettings:
    """Everything a sweep point needs; picklable so points can run in worker processes."""

    source: str
    params: dict[str, Any]
    betas: list[float]
    train: TrainConfig = field(default_factory=TrainConfig)
    decoder: str = "learned"
    sigma: float = 1.0
    learn_sigma: bool = False
    depth: int = 2
    hidden: int = 32
    n_eval: int = 262_144
    delta: float | None = None
    device: str = "cpu"
    checkpoint_dir: str | None = None


def default_betas(source: Source) -> list[float]:
    """Six betas from high to low rate, scaled to the source: for a Gaussian, D* = beta/2 per
    dimension, so beta = 2 * (mean per-dimension variance) * {0.025 ... 0.75} spans about 2.7 to
    0.2 bits per dimension."""
    s2 = float(np.mean(source.variance()))
    return [round(2 * s2 * f, 6) for f in (0.025, 0.05, 0.1, 0.25, 0.5, 0.75)]


def run_point(settings: SweepSettings, beta: float, progress: bool = False) -> dict[str, Any]:
    """Train one codec at ``beta`` and measure it (:func:`analysis.measure.measure_point`)."""
    torch.set_num_threads(1)  # one thread per point: sweep points run in parallel processes
    source = get_source(settings.source, **settings.params)
    torch.manual_seed(settings.train.seed)
    codec = FlowCodec(
        source.dim,
        decoder=settings.decoder,  # type: ignore[arg-type]
        sigma=settings.sigma,
        learn_sigma=settings.learn_sigma,
        depth=settings.depth,
        hidden=settings.hidden,
    ).to(settings.device)
    device = torch.device(settings.device)
    sample = lambda n, seed: source.sample(n, seed=seed).to(device)  # noqa: E731
    ckpt = None
    if settings.checkpoint_dir is not None:
        ckpt = Path(settings.checkpoint_dir) / f"{settings.source}_beta{beta:g}.pt"
    start = time.perf_counter()
    try:
        result = train(codec, sample, beta, settings.train, checkpoint=ckpt, progress=progress)
    except TrainingDiverged as e:
        return {"beta": beta, "error": str(e), "violations": [f"training diverged: {e}"]}
    codec = codec.cpu()
    point = measure_point(codec, source, beta, n_eval=settings.n_eval, seed=settings.train.seed, delta=settings.delta)
    point["train_seconds"] = result.seconds
    point["point_seconds"] = time.perf_counter() - start
    return point


def run_sweep(settings: SweepSettings, jobs: int = 1, progress: bool = True) -> tuple[list[dict[str, Any]], bool]:
    """Train and measure every beta; returns (points sorted by beta, interrupted). Ctrl-C stops
    cleanly and returns what was finished."""
    tasks = [(settings, beta) for beta in settings.betas]
    points, interrupted = run_tasks(run_point, tasks, jobs, progress, desc="sweep", inline_extra=(progress,))
    return sorted(points, key=lambda p: p["beta"]), interrupted


def format_table(points: Sequence[dict[str, Any]], exact_rd: bool) -> str:
    """The table printed by the CLI (bits per sample; D is squared error summed over dimensions)."""
    rd_head = "R(D)" if exact_rd else "R(D) [lo, up]"
    head = (
        f"{'beta':>7} {'D':>8} {'D*':>8} {rd_head:>17} {'E KL ±95%':>17} {'I(X;Z) sandwich':>17} "
        f"{'binned (D)':>17} {'coded (D)':>17} {'gap = prior + channel':>26}  flag"
    )
    lines = []
    for p in points:
        if "error" in p:
            lines.append(f"{p['beta']:>7g}  {p['error']}")
            continue
        rd = format_number(p["rd_lower"]) if exact_rd else f"[{format_number(p['rd_lower'])}, {format_number(p['rd_upper'])}]"
        kl_half = 0.5 * (p["rate_kl_ci"][1] - p["rate_kl_ci"][0])
        gap = f"{p['gap']:+.4f} = {p['gap_prior']:+.4f} {p['gap_channel']:+.4f}"
        flag = "VIOLATION" if p["violations"] else ("ok" if p["gap"] <= GAP_TARGET_BITS else "gap>target")
        kl = f"{p['rate_kl']:.4f} ±{kl_half:.4f}"
        mi = f"[{p['mi_lower']:.4f},{p['mi_upper']:.4f}]"
        binned = f"{p['rate_binned']:.4f} ({p['distortion_binned']:.4f})"
        coded = f"{p['rate_coded']:.4f} ({p['distortion_coded']:.4f})"
        lines.append(
            f"{p['beta']:>7g} {p['distortion']:>8.4f} {format_number(p['distortion_theory']):>8} {rd:>17} {kl:>17} "
            f"{mi:>17} {binned:>17} {coded:>17} {gap:>26}  {flag}"
        )
    return ruled_table(head, lines)


def plot_rd_gap(source: Source, points: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """R(D) (or its bounds) with every measured point: E KL with its 95 % interval, the I(X;Z)
    sandwich, the binned rate and the bitstream rate. For Gaussian vectors a second panel shows
    the per-dimension rate allocation against reverse water-filling."""
    per_dim = any(p.get("rate_per_dim") for p in points)
    with styled_figure(path, 1, 2 if per_dim else 1, figsize=(11 if per_dim else 6, 4.2), squeeze=False) as (_, axes):
        ax = axes[0, 0]
        d_all = [p["distortion"] for p in points] + [p["distortion_binned"] for p in points]
        total = float(np.sum(source.variance()))
        grid = np.geomspace(min(d_all) * 0.6, min(total, max(d_all) * 1.4), 60)
        bounds = [source.rate_distortion(float(d)) for d in grid]
        lo = np.array([b.lower for b in bounds]) * BITS
        up = np.array([b.upper for b in bounds]) * BITS
        if np.allclose(lo, up):
            ax.plot(grid, lo, color="black", lw=1.5, label="R(D) (exact)")
        else:
            ax.fill_between(grid, lo, up, color="0.6", alpha=0.5, label="R(D) bounds")
            ax.plot(grid, lo, color="black", lw=0.8)
        pal = palette()
        D = np.array([p["distortion"] for p in points])
        kl = np.array([p["rate_kl"] for p in points])
        kl_err = np.array([[p["rate_kl"] - p["rate_kl_ci"][0], p["rate_kl_ci"][1] - p["rate_kl"]] for p in points]).T
        ax.errorbar(D, kl, yerr=kl_err, fmt="o", color=pal[0], ms=5, capsize=3, label="E KL (95% CI)")
        for i, p in enumerate(points):
            ax.plot([p["distortion"]] * 2, [p["mi_lower"], p["mi_upper"]], color=pal[2], lw=4, alpha=0.6,
                    solid_capstyle="butt", label="I(X;Z) sandwich" if i == 0 else None)
        ax.plot([p["distortion_binned"] for p in points], [p["rate_binned"] for p in points], "s", mfc="none",
                color=pal[1], ms=7, label="binned rate")
        ax.plot([p["distortion_coded"] for p in points], [p["rate_coded"] for p in points], "x", color=pal[3],
                ms=6, label="bitstream")
        for p in points:
            ax.annotate(f"β={p['beta']:g}", (p["distortion"], p["rate_kl"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("distortion D (squared error per sample)")
        ax.set_ylabel("rate (bits per sample)")
        ax.set_title(title or "rate-distortion")
        ax.legend(fontsize=8)
        if per_dim:
            ax2 = axes[0, 1]
            var = np.asarray(source.variance() if getattr(source, "is_diagonal", True) else source.eigenvalues)
            idx = np.arange(len(var))
            for c, p in zip(palette(len(points), "viridis"), points):
                ax2.plot(idx, p["rate_per_dim_theory"], "-", color=c, lw=1.2)
                ax2.plot(idx, p["rate_per_dim"], "o", color=c, ms=5, label=f"β={p['beta']:g}")
            ax2.set_xticks(idx, [f"{v:g}" for v in var])
            ax2.set_xlabel("component variance")
            ax2.set_ylabel("rate per component (bits)")
            ax2.set_title("per-component rate: measured (dots) vs water-filling (lines)")
            ax2.legend(fontsize=7)


def source_params(args: argparse.Namespace) -> dict[str, Any]:
    """Source parameters from the command line (only the ones given)."""
    params: dict[str, Any] = json.loads(args.params) if args.params else {}
    for name in ("variance", "variances", "covariance", "scale", "weights", "means", "covariances", "dim"):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = json.loads(value) if isinstance(value, str) else value
    return params


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.rd_gap",
        description="Train FlowCodecs across beta on a source with known R(D) and report the gap to R(D), "
        "measured four ways (E KL, the I(X;Z) sandwich, binned rate, real bitstream). Rates in bits per sample.",
    )
    src = p.add_argument_group("source")
    src.add_argument("--source", choices=SOURCES.names(), default="gaussian")
    src.add_argument("--variance", type=float, help="gaussian: variance (default 1)")
    src.add_argument("--dim", type=int, help="gaussian, laplace: number of i.i.d. components (default 1)")
    src.add_argument("--variances", type=float, nargs="+", help="gaussian-vector: per-component variances")
    src.add_argument("--covariance", type=str, help="gaussian-vector: covariance matrix as JSON")
    src.add_argument("--scale", type=float, help="laplace: scale b (default 1)")
    src.add_argument("--weights", type=str, help="mixture: weights as JSON, shape (k,)")
    src.add_argument("--means", type=str, help="mixture: means as JSON, shape (k, d)")
    src.add_argument("--covariances", type=str, help="mixture: covariances as JSON, shape (k, d, d)")
    src.add_argument("--params", type=str, help="any source parameters as one JSON object")
    cod = p.add_argument_group("codec and training")
    cod.add_argument("--betas", type=float, nargs="+", help="rate multipliers (default: six spanning low to high rate)")
    cod.add_argument("--steps", type=int, default=None, help="training steps per point (default 800; --quick 150)")
    cod.add_argument("--batch-size", type=int, default=2048)
    cod.add_argument("--lr", type=float, default=2e-2)
    cod.add_argument("--schedule", choices=["constant", "linear", "cosine"], default="linear", help="beta warm-up")
    cod.add_argument("--seed", type=int, default=0)
    cod.add_argument("--decoder", choices=["learned", "inverse"], default="learned")
    cod.add_argument("--sigma", type=float, default=1.0, help="latent noise scale (default 1)")
    cod.add_argument("--learn-sigma", action="store_true", help="train sigma as well")
    cod.add_argument("--depth", type=int, default=2, help="flow blocks in encoder and prior")
    cod.add_argument("--hidden", type=int, default=32, help="width of coupling and decoder networks")
    cod.add_argument("--checkpoint-dir", type=str, default=None, help="write a checkpoint per point here")
    ev = p.add_argument_group("evaluation and output")
    ev.add_argument("--eval-samples", type=int, default=None, help="test samples per point (default 2^18; --quick 2^15)")
    ev.add_argument("--delta", type=float, default=None, help="bin width in the prior's base space (default: matched)")
    ev.add_argument("--json", type=str, default=None, help="write the numbers as JSON here")
    ev.add_argument("--plot", type=str, default=None, help="write a figure here (.png or .pdf)")
    ev.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    ev.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ev.add_argument("--jobs", type=int, default=None, help="sweep points trained in parallel (default: CPU count, max 4)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _settings(args: argparse.Namespace, source: Source) -> SweepSettings:
    steps = args.steps if args.steps is not None else (150 if args.quick else 800)
    n_eval = args.eval_samples if args.eval_samples is not None else (2**15 if args.quick else 2**18)
    for name, value, low in (("--steps", steps, 1), ("--batch-size", args.batch_size, 2), ("--eval-samples", n_eval, 2)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    betas = args.betas or default_betas(source)
    if any(not (b > 0 and math.isfinite(b)) for b in betas):
        raise ValueError(f"--betas must all be finite and > 0, got {betas}")
    if args.quick and not args.betas:
        betas = betas[::2]
    if not (args.sigma > 0 and math.isfinite(args.sigma)):
        raise ValueError(f"--sigma must be finite and > 0, got {args.sigma}")
    if args.delta is not None and not args.delta > 0:
        raise ValueError(f"--delta must be > 0, got {args.delta}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    cfg = TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, seed=args.seed)
    return SweepSettings(
        source=args.source,
        params=source_params(args),
        betas=list(betas),
        train=cfg,
        decoder=args.decoder,
        sigma=args.sigma,
        learn_sigma=args.learn_sigma,
        depth=args.depth,
        hidden=args.hidden,
        n_eval=n_eval,
        delta=args.delta,
        device=args.device,
        checkpoint_dir=args.checkpoint_dir,
    )


def sweep_report(
    settings: SweepSettings, source: Source, points: Sequence[dict[str, Any]], runtime_s: float, interrupted: bool
) -> dict[str, Any]:
    """The JSON report of a sweep (bits; the published field names of ``benchmarks/results/rd_gap_*.json``)."""
    return study_report({
        "source": settings.source,
        "params": source.params(),
        "dim": source.dim,
        "unit": "bits",
        "runtime_s": runtime_s,
        "interrupted": interrupted,
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("source", "params")},
        "points": list(points),
    })


def _source_and_settings(args: argparse.Namespace) -> tuple[Source, SweepSettings]:
    source = get_source(args.source, **source_params(args))
    return source, _settings(args, source)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study; exit status 0, 1 if any point violates R(D) (or diverged), 2 on bad arguments,
    130 if interrupted."""
    parser = build_parser()
    start = time.perf_counter()
    args, (source, settings) = parse_study_args(parser, argv, _source_and_settings)
    jobs = args.jobs if args.jobs is not None else min(4, mp.cpu_count(), len(settings.betas))
    if jobs < 1:
        parser.error(f"--jobs must be >= 1, got {jobs}")
    if args.device == "cuda":
        jobs = 1  # one process owns the GPU
    points, interrupted = run_sweep(settings, jobs=jobs, progress=not args.no_progress)
    runtime = time.perf_counter() - start
    exact = all(p.get("rd_lower") == p.get("rd_upper") for p in points if "error" not in p)
    print(f"\nsource {args.source} {source.params()}  dim {source.dim}  unit: bits per sample "
          f"(D: squared error per sample, summed over dims)")
    print(format_table(points, exact))
    good = [p for p in points if "error" not in p]
    n_viol = sum(bool(p["violations"]) for p in points)
    if good:
        worst = max(p["gap"] for p in good)
        print(f"\nmax gap E KL - R(D): {worst:.4f} bits (target {GAP_TARGET_BITS}); violations: {n_viol}; "
              f"runtime {runtime:.1f} s on {jobs} process(es)")
    for p in points:
        for v in p["violations"]:
            print(f"VIOLATION at beta={p['beta']:g}: {v}", file=sys.stderr)
    if args.json:
        write_report(args.json, sweep_report(settings, source, points, runtime, interrupted))
    if args.plot and good:
        plot_rd_gap(source, good, args.plot, title=f"{args.source} {source.params()}")
    if interrupted:
        return 130
    return 1 if n_viol else 0


if __name__ == "__main__":
    sys.exit(main())
