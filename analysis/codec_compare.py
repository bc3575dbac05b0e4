"""python -m analysis.codec_compare: every codec's operational R-D curve against R(D) on one source.

Each codec (a registered vector codec or ``package.module:attribute``) is fitted and trained at the
same betas as :mod:`analysis.rd_gap` would (:func:`analysis.rd_gap.train_point`) and measured through
its bitstream (:func:`analysis.rd_gap.measure_trained`): D from the decoded output, the operational
rate from the real bytes, container included. ``flowcodec`` and ``flowcodec-dithered`` are one trained
FlowCodec coded two ways (binned in the prior's base space; dithered universal quantization of f(x)).
The table gives each codec's BD-rate against R(D) itself, the mean rate it wastes, and its gap at the
distortions where R(D) is 1, 2 and 3 bits per sample (:mod:`analysis.rd_summary`); for 2-D sources
``--cells`` draws every codec's quantization cells over the source density (:mod:`analysis.cells`).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis.cells import Cells, plot_cells, quantization_cells, view_box
from analysis.cli import json_object, parse_study_args, part_listing, part_options, require_at_least, require_positive, require_seed
from analysis.measure import draw, source_parameters, source_variances
from analysis.parallel import add_scheduler_argument, check_scheduler, ran_on, run_tasks
from analysis.plots import palette, styled_figure
from analysis.rd_gap import SweepSettings, checked_vector_codec, measure_trained, train_point
from analysis.rd_summary import BITS, betas_for_rates, summarize_curve
from analysis.report import format_number, ruled_table, study_report, write_report
from contracts import CodingPreparedCodec, add_option_flags
from ibflow import CODECS, TrainConfig
from synthetic import SOURCES, Source, get_source
from synthetic.sources.empirical import EmpiricalSource

__all__ = [
    "DEFAULT_CODECS", "RECODED", "CompareSettings", "compare_task", "run_compare", "summarize", "format_summary",
    "plot_curves", "compare_report", "build_parser", "main",
]

DEFAULT_CODECS = ("uniform", "ecvq", "ntc", "ectcq", "flowcodec", "flowcodec-dithered")
RECODED = {"flowcodec-dithered": "flowcodec"}
"""Codecs that code another codec's trained model their own way: when both are compared, the model is
trained once (the coding class's ``from_flowcodec`` copies it) and measured both ways."""
TARGET_RATES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
"""Default betas: those whose Lagrangian is stationary on R(D) at these rates (bits per sample)."""
TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig))
MATCHED_RATES = (1.0, 2.0, 3.0)
"""The gaps of the table: at the D where R(D) is this many bits per sample."""


@dataclass
class CompareSettings:
    """A comparison: one sweep template (source, betas, training, evaluation) and the codecs."""

    sweep: SweepSettings
    codecs: list[str]
    codec_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cells_beta: float | None = None
    cells_resolution: int = 240
    train_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per codec, fields of :class:`ibflow.TrainConfig` that replace the sweep's (e.g. a smaller lr)."""

    def for_codec(self, name: str) -> SweepSettings:
        train = replace(self.sweep.train, **self.train_options.get(name, {}))
        return replace(self.sweep, codec=name, codec_options=dict(self.codec_options.get(name, {})), train=train)


def compare_task(
    settings: CompareSettings, codec: str, beta: float, recode: tuple[str, ...], cells_box: tuple[float, ...] | None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train ``codec`` at ``beta`` once and measure it, then each codec in ``recode`` built from the same
    trained model; with ``cells_box``, also the quantization cells of each. Returns
    ``{"points": [...], "cells": {name: Cells}}``."""
    torch.set_num_threads(1)  # one thread per task: tasks run in parallel processes
    sweep = settings.for_codec(codec)
    trained = train_point(sweep, beta, progress)
    if isinstance(trained, dict):  # training diverged: its error point
        return {"points": [trained] + [{**trained, "codec": r} for r in recode], "cells": {}}
    models = [(codec, trained)]
    for name in recode:
        cls = CODECS.get(name).obj
        model = cls.from_flowcodec(trained.codec)
        if isinstance(model, CodingPreparedCodec):  # the same training samples train_point used
            model.prepare_coding(draw(trained.source, sweep.fit_samples, sweep.seed + 2_000_003))
        models.append((name, replace(trained, codec=model)))
    points, cells = [], {}
    for name, t in models:
        points.append(measure_trained(settings.for_codec(name), beta, t, name=name))
        if cells_box is not None:
            drawn = quantization_cells(t.codec, tuple(cells_box), settings.cells_resolution)  # type: ignore[arg-type]
            if drawn is not None:
                cells[name] = drawn
    return {"points": points, "cells": cells}


def _tasks(settings: CompareSettings, cells_box: tuple[float, ...] | None) -> list[tuple[Any, ...]]:
    tasks = []
    for codec in settings.codecs:
        if RECODED.get(codec) in settings.codecs:
            continue  # measured in its trained model's task
        recode = tuple(c for c in settings.codecs if RECODED.get(c) == codec)
        for beta in settings.sweep.betas:
            box = cells_box if beta == settings.cells_beta else None
            tasks.append((settings, codec, beta, recode, box))
    return tasks


def run_compare(
    settings: CompareSettings, jobs: int = 1, progress: bool = True, cells: bool = False, scheduler: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Cells], bool]:
    """Every (codec, beta): returns (points sorted by codec and beta, cells by codec, interrupted)."""
    source = get_source(settings.sweep.source, **settings.sweep.params)
    box = view_box(source) if cells else None
    results, interrupted = run_tasks(compare_task, _tasks(settings, box), jobs, progress, desc="codecs x betas",
                                     inline_extra=(progress,), scheduler=scheduler)
    order = {c: i for i, c in enumerate(settings.codecs)}
    points = sorted((p for r in results for p in r["points"]), key=lambda p: (order.get(p["codec"], 99), p["beta"]))
    all_cells: dict[str, Cells] = {}
    for r in results:
        all_cells.update(r["cells"])
    return points, {c: all_cells[c] for c in settings.codecs if c in all_cells}, interrupted


def summarize(points: Sequence[dict[str, Any]], source: Source, codecs: Sequence[str]) -> dict[str, Any]:
    """Per codec, :func:`analysis.rd_summary.summarize_curve`; per matched rate, the codec closest to R(D)."""
    d_max = float(np.sum(source_variances(source)))
    per = {c: summarize_curve([p for p in points if p["codec"] == c], source, MATCHED_RATES, d_max) for c in codecs}
    best: dict[str, Any] = {}
    for r in MATCHED_RATES:
        have = [(s.gap_at[r], c) for c, s in per.items() if s.gap_at[r] is not None]
        if have:
            gap, codec = min(have)
            best[f"{r:g}"] = {"codec": codec, "gap_bits": gap, "gap_bits_per_dim": gap / source.dim}
    return {"codecs": {c: s.as_dict() for c, s in per.items()}, "best_at_rate": best}


def format_points(points: Sequence[dict[str, Any]]) -> str:
    """Every point: codec, beta, operational D and rate, R(D) there, the gap, whether it decoded exactly."""
    head = f"{'codec':<20} {'beta':>8} {'D':>9} {'rate':>8} {'R(D)':>8} {'gap':>8} {'bytes':>9} {'decoded':>8}  flag"
    rows = []
    for p in points:
        if "error" in p:
            rows.append(f"{p['codec']:<20} {p['beta']:>8g}  {p['error']}")
            continue
        decoded = {True: "exact", False: "NO", None: "-"}[p["decoded_exactly"]]
        flag = "VIOLATION" if p["violations"] else "ok"
        rows.append(
            f"{p['codec']:<20} {p['beta']:>8g} {p['distortion_operational']:>9.5f} {p['rate_operational']:>8.4f} "
            f"{p['rate_operational'] - p['gap_operational']:>8.4f} {p['gap_operational']:>+8.4f} {p['bytes']:>9d} "
            f"{decoded:>8}  {flag}"
        )
    return ruled_table(head, rows)


def format_summary(summary: dict[str, Any]) -> str:
    """One row per codec: BD-rate against R(D), the mean rate wasted, the gap at R(D) = 1, 2, 3 bits."""
    gaps = "".join(f" {'gap@' + format(r, 'g') + 'b':>9}" for r in MATCHED_RATES)
    head = f"{'codec':<20} {'BD-rate vs R(D)':>16} {'mean gap':>9}{gaps}"
    rows = []
    for c, s in summary["codecs"].items():
        cells = "".join(f" {format_number(s['gap_at_rate'][f'{r:g}'], sign=True):>9}" for r in MATCHED_RATES)
        bd = s["bd_rate_percent"]
        bd_cell = "-" if not math.isfinite(bd) else f"{bd:+.1f} %"
        rows.append(f"{c:<20} {bd_cell:>16} {format_number(s['mean_gap_bits'], sign=True):>9}{cells}")
    return ruled_table(head, rows)


def plot_curves(source: Source, points: Sequence[dict[str, Any]], codecs: Sequence[str], path: str | Path, title: str = "") -> None:
    """Left: every codec's operational R-D points (real bytes) with R(D); right: their gaps to R(D)."""
    good = [p for p in points if "error" not in p]
    with styled_figure(path, 1, 2, figsize=(11.5, 4.3)) as (_, (ax, ax2)):
        D = [p["distortion_operational"] for p in good]
        total = float(np.sum(source_variances(source)))
        grid = np.geomspace(min(D) * 0.7, min(total, max(D) * 1.4), 80)
        bounds = [source.rate_distortion(float(d)) for d in grid]
        lo, up = np.array([b.lower for b in bounds]) * BITS, np.array([b.upper for b in bounds]) * BITS
        if np.allclose(lo, up):
            ax.plot(grid, lo, color="black", lw=1.5, label="R(D)")
        else:
            ax.fill_between(grid, lo, up, color="0.6", alpha=0.5, label="R(D) bounds")
        ax2.axhline(0.0, color="black", lw=1.0)
        for colour, c in zip(palette(max(len(codecs), 1)), codecs):
            pts = sorted((p for p in good if p["codec"] == c), key=lambda p: p["distortion_operational"])
            if not pts:
                continue
            d = [p["distortion_operational"] for p in pts]
            ax.plot(d, [p["rate_operational"] for p in pts], "o-", color=colour, ms=4, lw=1, label=c)
            ax2.plot([p["rate_operational"] - p["gap_operational"] for p in pts], [p["gap_operational"] for p in pts],
                     "o-", color=colour, ms=4, lw=1, label=c)
        ax.set_xscale("log")
        ax.set_xlabel("distortion D (squared error per sample)")
        ax.set_ylabel("operational rate (bits per sample, real bytes)")
        ax.set_title(title or "operational rate-distortion")
        ax.legend(fontsize=8)
        ax2.set_xlabel("R(D) at the codec's distortion (bits per sample)")
        ax2.set_ylabel("gap: operational rate - R(D) (bits)")
        ax2.set_title("rate wasted against R(D)")


def compare_report(settings: CompareSettings, source: Source, points: Sequence[dict[str, Any]],
                   summary: dict[str, Any], cells: dict[str, Cells], runtime_s: float, interrupted: bool) -> dict[str, Any]:
    """The JSON report (bits; the fields of ``benchmarks/results/codec_compare_*.json``)."""
    sweep = {k: v for k, v in asdict(settings.sweep).items() if k not in ("codec", "codec_options", "source", "params")}
    return study_report({
        "source": settings.sweep.source,
        "params": source_parameters(source),
        "dim": source.dim,
        "unit": "bits",
        "codecs": list(settings.codecs),
        "matched_rates_bits": list(MATCHED_RATES),
        "runtime_s": runtime_s,
        "interrupted": interrupted,
        "settings": {**sweep, "codec_options": settings.codec_options, "train_options": settings.train_options,
                     "cells_beta": settings.cells_beta},
        "summary": summary,
        # cells in view per codec; null for a codec without fixed cells (trellis path, dither)
        "cells": {c: (cells[c].count if c in cells else None) for c in settings.codecs} if settings.cells_beta else {},
        "points": list(points),
    })


def build_parser() -> argparse.ArgumentParser:
    sources = list(SOURCES)
    codecs = [CODECS.get(name) for name in CODECS.tagged("vector")]
    nl = "\n  "
    p = argparse.ArgumentParser(
        prog="python -m analysis.codec_compare",
        description="Train every codec at the same betas on one source and compare their operational R-D curves "
        "(real bytes, container included) with R(D): BD-rate against R(D), mean rate wasted, gap at R(D) = 1, 2, 3 "
        "bits per sample. Rates in bits per sample.",
        epilog=f"sources:\n  {part_listing(sources, sep=nl)}\n\ncodecs:\n  {part_listing(codecs, sep=nl)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source")
    src.add_argument("--source", default="gaussian", metavar="SOURCE",
                     help=f"one of {', '.join(e.name for e in sources)}, or package.module:attribute (default: gaussian)")
    src.add_argument("--params", type=json_object, metavar="JSON", help="the source's parameters as one JSON object")
    source_flags = add_option_flags(src, {e.name: e.options for e in sources})
    cod = p.add_argument_group("codecs and training")
    cod.add_argument("--codecs", nargs="+", default=list(DEFAULT_CODECS), metavar="CODEC",
                     help=f"registered vector codecs or package.module:attribute paths (default: {' '.join(DEFAULT_CODECS)})")
    cod.add_argument("--codec-options", type=json_object, metavar="JSON",
                     help='options per codec, e.g. \'{"ntc": {"hidden": 64}, "ecvq": {"codewords": 512}}\'')
    cod.add_argument("--betas", type=float, nargs="+",
                     help="rate multipliers (default: where R(D) has slope -1/beta at 0.5, 1, ..., 3.5 bits per sample)")
    cod.add_argument("--steps", type=int, default=None, help="gradient steps per point (default 800; --quick 150)")
    cod.add_argument("--batch-size", type=int, default=2048)
    cod.add_argument("--lr", type=float, default=2e-2)
    cod.add_argument("--train-options", type=json_object, metavar="JSON",
                     help='training settings per codec that replace the flags above, e.g. \'{"flowcodec": {"lr": 0.002}}\' '
                     f"(fields: {', '.join(TRAIN_FIELDS)})")
    cod.add_argument("--fit-samples", type=int, default=131_072, help="training samples for a codec's fit(x, beta)")
    cod.add_argument("--seed", type=int, default=0)
    ev = p.add_argument_group("evaluation and output")
    ev.add_argument("--eval-samples", type=int, default=None, help="test samples per point (default 2^18; --quick 2^15)")
    ev.add_argument("--json", type=str, default=None, help="write the numbers as JSON here")
    ev.add_argument("--plot", type=str, default=None, help="write the R-D curves and gaps here (.png, .pdf, .svg)")
    ev.add_argument("--cells", type=str, default=None,
                    help="2-D sources: draw every codec's quantization cells at the middle beta here")
    ev.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    ev.add_argument("--jobs", type=int, default=None, help="tasks in parallel (default: CPU count, max 4)")
    add_scheduler_argument(ev)
    ev.add_argument("--no-progress", action="store_true")
    p.set_defaults(source_flags=source_flags)
    return p


def _settings(args: argparse.Namespace) -> tuple[Source, CompareSettings]:
    params = part_options(args, SOURCES, args.source, args.source_flags, args.params, "--source", "--params")
    source = get_source(args.source, **params)
    if isinstance(source, EmpiricalSource):
        source.require_bounds("--source")
    steps = args.steps if args.steps is not None else (150 if args.quick else 800)
    n_eval = args.eval_samples if args.eval_samples is not None else (2**15 if args.quick else 2**18)
    require_at_least("--steps", steps, 1)
    require_at_least("--batch-size", args.batch_size, 2)
    require_at_least("--fit-samples", args.fit_samples, 2)
    require_at_least("--eval-samples", n_eval, 8192, "FlowCodec's I(X;Z) sandwich needs 4 batches of 2048")
    require_positive("--lr", args.lr)
    require_seed("--seed", args.seed)
    if args.jobs is not None:
        require_at_least("--jobs", args.jobs, 1)
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    if len(set(args.codecs)) != len(args.codecs):
        raise ValueError(f"--codecs names a codec twice: {args.codecs}")
    options = dict(args.codec_options or {})
    unknown = sorted(set(options) - set(args.codecs))
    if unknown or not all(isinstance(v, dict) for v in options.values()):
        raise ValueError(f"--codec-options maps codecs of --codecs to option objects; got keys {unknown or list(options)}")
    d_max = float(np.sum(source_variances(source)))
    betas = list(args.betas) if args.betas else betas_for_rates(source, TARGET_RATES, d_max)
    if not betas:
        raise ValueError(f"--betas: R(D) of {args.source} is bracketed at none of the default rates "
                         f"{', '.join(map(str, TARGET_RATES))} bits; give --betas")
    if any(not (b > 0 and math.isfinite(b)) for b in betas):
        raise ValueError(f"--betas must all be finite and > 0, got {betas}")
    if args.quick and not args.betas:
        betas = betas[::2]
    if args.cells is not None and source.dim != 2:
        raise ValueError(f"--cells draws the cells of 2-D sources; {args.source} has dim {source.dim}")
    resolved: dict[str, dict[str, Any]] = {}
    for name in args.codecs:
        resolved[name], _ = checked_vector_codec("--codecs", name, source.dim, dict(options.get(name, {})), betas[0])
    cfg = TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    train_options = dict(args.train_options or {})
    unknown = sorted(set(train_options) - set(args.codecs))
    if unknown or not all(isinstance(v, dict) for v in train_options.values()):
        raise ValueError(f"--train-options maps codecs of --codecs to objects of training settings; got keys "
                         f"{unknown or list(train_options)}")
    for name, opts in train_options.items():
        bad = sorted(set(opts) - set(TRAIN_FIELDS))
        if bad:
            raise ValueError(f"--train-options: {name} names {bad}; the settings are {', '.join(TRAIN_FIELDS)}")
        try:
            replace(cfg, **opts)  # TrainConfig checks each value and names its range
        except (TypeError, ValueError) as e:
            raise ValueError(f"--train-options for {name}: {e}") from e
    sweep = SweepSettings(source=args.source, params=params, betas=sorted(betas), train=cfg, n_eval=n_eval,
                          seed=args.seed, fit_samples=args.fit_samples)
    middle = sorted(betas)[len(betas) // 2]
    return source, CompareSettings(sweep, list(args.codecs), resolved, cells_beta=middle if args.cells else None,
                                   train_options=train_options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; exit 0, 1 if a codec violates R(D) (or diverged), 2 on bad arguments, 130 if interrupted."""
    parser = build_parser()
    start = time.perf_counter()
    args, (source, settings) = parse_study_args(
        parser, argv, _settings, output_paths=lambda a, s: {"--json": a.json, "--plot": a.plot, "--cells": a.cells})
    n_tasks = len(_tasks(settings, None))
    jobs = args.jobs if args.jobs is not None else min(4, mp.cpu_count(), n_tasks)
    points, cells, interrupted = run_compare(settings, jobs=jobs, progress=not args.no_progress, cells=args.cells is not None,
                                             scheduler=args.scheduler)
    runtime = time.perf_counter() - start
    summary = summarize(points, source, settings.codecs)
    print(f"\nsource {args.source} {source_parameters(source)}  dim {source.dim}  unit: bits per sample, real bytes "
          "(container included); D: squared error per sample, summed over dims")
    print(format_points(points))
    print()
    print(format_summary(summary))
    for r, b in summary["best_at_rate"].items():
        print(f"closest to R(D) at {r} bits: {b['codec']}, {b['gap_bits']:+.4f} bits ({b['gap_bits_per_dim']:+.4f} per dim)")
    n_viol = sum(bool(p["violations"]) for p in points)
    print(f"violations: {n_viol}; runtime {runtime:.1f} s on {ran_on(jobs, args.scheduler)}")
    for p in points:
        for v in p["violations"]:
            print(f"VIOLATION {p['codec']} at beta={p['beta']:g}: {v}", file=sys.stderr)
    if args.json:
        write_report(args.json, compare_report(settings, source, points, summary, cells, runtime, interrupted))
    if args.plot and any("error" not in p for p in points):
        plot_curves(source, points, settings.codecs, args.plot, title=f"{args.source}: operational R-D")
    if args.cells and cells:
        beta = settings.cells_beta
        plot_cells(list(cells.items()), source, args.cells, title=f"{args.source}: quantization cells at beta = {beta:g}")
    if interrupted:
        return 130
    return 1 if n_viol else 0


if __name__ == "__main__":
    sys.exit(main())
