"""python -m analysis.mi_bench: MI estimators against sources of known MI (the Poole et al. 2019 staircase), in nats."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from analysis.parallel import run_tasks
from analysis.points_log import LoggedPoints, PointsLog, open_study_log, points_log_path, settings_hash
from contracts.interface import KnownMISampler
from contracts.options import add_option_flags
from synthetic import SAMPLERS, get_sampler
from estimators import ESTIMATORS, estimate_mi
from estimators.registry import declared_options
from analysis.cli import (
    json_object, parse_study_args, part_listing, part_options, require_at_least, require_positive, require_seed,
)
from analysis.plots import palette, styled_figure
from analysis.report import format_number, ruled_table, study_report, write_report

__all__ = [
    "build_parser",
    "main",
    "BenchSettings",
    "run_task",
    "run_grid",
    "bench_report",
    "run_settings_hash",
    "summarize",
    "format_table",
    "format_bias_matrix",
    "plot_mi_bench",
    "PUBLISHED_CONTEXT",
    "DEFAULT_METHODS",
]

DEFAULT_METHODS = ("ksg", "nwj", "dv", "infonce", "js", "smile", "doe")
NEURAL = ("dv", "nwj", "infonce", "js", "smile", "interpolated")
SUITES = ("staircase", "tasks")  # --suite: this module's staircase, or analysis.mi_suite's task suite
CURVE_STRIDE = 20  # training curves are kept as means over blocks of this many steps

# Published figures, quoted as context only: they are not measured by this tool.
PUBLISHED_CONTEXT = (
    "InfoNCE saturates near log K = log 64 = 4.16 nats with batch 64 (Poole et al. 2019, Fig. 2; "
    "InfoNCE <= log K for any critic)",
    "NWJ and DV (MINE): variance explodes once the true MI passes about 6 nats (Poole et al. 2019, Fig. 2; "
    "Song & Ermon 2020, Fig. 1)",
    "SMILE with clip tau = 5 tracks the truth within about 0.7 nats on the staircase (Song & Ermon 2020, Fig. 1)",
)


@dataclass
class BenchSettings:
    """Everything one grid cell needs; picklable so cells can run in worker processes."""

    source: str
    mis: list[float]
    methods: list[str]
    seeds: list[int]
    steps: int = 4000
    batch_size: int = 64
    lr: float = 5e-4
    samples: int = 32_000
    ksg_samples: int = 8_000
    ksg_k: int = 3
    critic: str = "separable"
    tau: float = 5.0
    patience: int = 10
    # the sampler is built from ``source`` and ``source_options`` alone (its options dataclass fills the rest);
    # ``dim`` (of x; ``dim_y`` of y) and ``df`` (the Student-t's, None for a sampler without one) describe
    # what was built, for the table and the report, and are checked against it
    source_options: dict[str, Any] = field(default_factory=dict)
    dim: int = 20
    dim_y: int | None = None
    df: float | None = None
    quick: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.dim_y is None:  # the built-in samplers have x and y of one dimension
            self.dim_y = self.dim


def build_sampler(settings: BenchSettings, mi: float) -> KnownMISampler:
    """The known-MI sampler of ``settings`` at true MI ``mi`` nats, checked against the description
    the settings carry (``dim``, ``dim_y``, ``df``), so that a hand-made :class:`BenchSettings` whose
    description disagrees with its ``source_options`` fails loudly instead of mislabelling a report."""
    sampler = get_sampler(settings.source, mi=mi, **settings.source_options)
    described = {"dim": settings.dim, "dim_y": settings.dim_y}
    built = {"dim": sampler.dim_x, "dim_y": sampler.dim_y}
    if settings.df is not None:
        described["df"], built["df"] = settings.df, getattr(sampler, "df", None)
    if described != built:
        raise ValueError(f"settings describe the sampler as {described} but {settings.source!r} with options "
                         f"{settings.source_options} builds {built}: give its options in source_options")
    return sampler


def _options(settings: BenchSettings, method: str, seed: int) -> dict[str, Any]:
    if method == "ksg":
        return {"k": settings.ksg_k, "seed": seed}
    if method == "doe":
        # its own defaults (batch 256, lr 1e-3): it fits a density by maximum likelihood, not a critic
        return {"steps": settings.steps, "patience": settings.patience, "seed": seed, "progress": False}
    if method == "ba":
        return {"steps": settings.steps, "batch_size": settings.batch_size, "lr": settings.lr, "seed": seed,
                "patience": settings.patience, "progress": False}
    opts: dict[str, Any] = {
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "critic": settings.critic,
        "patience": settings.patience,
        "seed": seed,
        "progress": False,
    }
    if method == "smile":
        opts["tau"] = settings.tau
    if method not in NEURAL:
        # a user's estimator (entry point or module:attribute) gets the shared settings its options declare
        opts = declared_options(method, opts)
    return opts


def _block_means(curve: Sequence[float] | None, stride: int) -> list[float] | None:
    if not curve:
        return None
    c = np.asarray(curve, dtype=np.float64)
    m = len(c) // stride
    out = c[: m * stride].reshape(m, stride).mean(axis=1).tolist() if m else []
    if len(c) % stride:
        out.append(float(c[m * stride :].mean()))
    return out


def run_task(settings: BenchSettings, mi: float, method: str, seed: int) -> dict[str, Any]:
    """One estimate: sample the source at ``mi`` with ``seed`` and run ``method`` on it.

    Every method sees the same data for a given (MI, seed) (common random numbers), so differences
    between methods are not sampling noise of the data.
    """
    torch.set_num_threads(1)  # one thread per worker: cells run in parallel processes
    sampler = build_sampler(settings, mi)
    n = settings.ksg_samples if method == "ksg" else settings.samples
    x, y = sampler.sample(n, seed=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InfoNCE's near-cap warning: the cap is reported in the table instead
        est = estimate_mi(x, y, method=method, **_options(settings, method, seed))
    seconds = time.perf_counter() - start
    extra = est.extra
    return {
        "mi": mi,
        "method": method,
        "seed": seed,
        "true_mi": sampler.mutual_information,
        "value": est.value,
        "ci": list(est.ci) if est.ci is not None else None,
        "seconds": seconds,
        "n": n,
        "steps_run": extra.get("steps_run"),
        "best_step": extra.get("best_step"),
        "curve": _block_means(est.curve, CURVE_STRIDE),
    }


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One (MI, method) cell over its repeats: mean, bias = mean - truth, sd, mean interval, time."""
    values = np.array([r["value"] for r in runs], dtype=np.float64)
    truth = runs[0]["true_mi"]
    mean = float(values.mean())
    cis = [r["ci"] for r in runs if r["ci"] is not None and all(math.isfinite(v) for v in r["ci"])]
    mean_ci = [float(np.mean([c[0] for c in cis])), float(np.mean([c[1] for c in cis]))] if cis else None
    cell: dict[str, Any] = {
        "mi": runs[0]["mi"],
        "method": runs[0]["method"],
        "true_mi": truth,
        "mean": mean,
        "bias": mean - truth,
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "mean_ci": mean_ci,
        "mean_ci_halfwidth": 0.5 * (mean_ci[1] - mean_ci[0]) if mean_ci else None,
        "coverage": float(np.mean([c[0] <= truth <= c[1] for c in cis])) if cis else None,
        "seconds": float(np.mean([r["seconds"] for r in runs])),
        "seconds_total": float(np.sum([r["seconds"] for r in runs])),
        "repeats": len(runs),
        "values": values.tolist(),
        "cis": [r["ci"] for r in runs],
        "seeds": [r["seed"] for r in runs],
        "steps_run": [r["steps_run"] for r in runs],
        "best_step": [r["best_step"] for r in runs],
        "curve": runs[0]["curve"],  # training bound, first seed, means over CURVE_STRIDE steps
    }
    return cell


def _run_key(mi: float, method: str, seed: int) -> list[Any]:
    """The key a run is logged under (a JSON list)."""
    return [mi, method, seed]


def run_settings_hash(settings: BenchSettings) -> str:
    """The hash a benchmark's runs are logged under: every setting that determines a run, so not the
    grid (mis, methods, seeds: each run's key) or what only describes the settings (quick, notes)."""
    determining = {k: v for k, v in asdict(settings).items() if k not in ("mis", "methods", "seeds", "quick", "notes")}
    return settings_hash("mi_bench", determining)


def run_grid(
    settings: BenchSettings, jobs: int = 1, progress: bool = True,
    points_log: PointsLog | None = None, logged: LoggedPoints | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Every (MI, method, seed) estimate, summarised per (MI, method); returns (cells, interrupted).

    Each run is appended to ``points_log`` (if given) as it finishes; a run found in ``logged`` (an
    earlier run's, :mod:`analysis.points_log`) is taken from there instead of being run again."""
    tasks = [(mi, m, s) for mi in settings.mis for m in settings.methods for s in settings.seeds]
    runs: list[dict[str, Any]] = []
    missing = []
    for t in tasks:
        run = logged.take(_run_key(*t)) if logged is not None else None
        if run is None:
            missing.append(t)
        else:
            runs.append(run)
    # slow (neural) tasks first so a worker pool does not end on one long straggler
    order = sorted(missing, key=lambda t: (t[1] == "ksg", -t[0]))
    on_result = None if points_log is None else (
        lambda r: points_log.append(_run_key(r["mi"], r["method"], r["seed"]), r))
    new_runs, interrupted = run_tasks(
        run_task, [(settings, *t) for t in order], jobs, progress, desc=f"mi_bench[{settings.source}]",
        on_result=on_result,
    )
    runs += new_runs
    cells = []
    for mi in settings.mis:
        for m in settings.methods:
            group = sorted((r for r in runs if r["mi"] == mi and r["method"] == m), key=lambda r: r["seed"])
            if group:
                cells.append(summarize(group))
    return cells, interrupted


def _f(v: float | None, digits: int = 3, sign: bool = False) -> str:
    # diverged estimates print in exponent notation, keeping the columns readable
    return format_number(v, digits, sign=sign, blank_nonfinite=True, exponent_from=1e4)


def format_table(cells: Sequence[dict[str, Any]], batch_size: int) -> str:
    """The table printed by the CLI, nats. ``cap``: InfoNCE's log K."""
    head = (f"{'true MI':>8} {'method':>8} {'mean':>8} {'bias':>8} {'sd':>7} {'mean 95% CI':>17} "
            f"{'cover':>6} {'sec':>7}  note")
    lines = []
    cap = math.log(batch_size)
    for c in cells:
        ci = f"[{_f(c['mean_ci'][0])}, {_f(c['mean_ci'][1])}]" if c["mean_ci"] else "-"
        note = ""
        if c["method"] == "infonce":
            note = f"cap log K = {cap:.3f}" + (" (truth above cap)" if c["true_mi"] > cap else "")
        if c["method"] in NEURAL and c["mean_ci"] and c["mean_ci"][0] > c["true_mi"]:
            # a variational lower bound held out on test data should not sit wholly above the truth
            note += " ABOVE TRUTH: not behaving as a lower bound"
        lines.append(
            f"{c['true_mi']:>8.3f} {c['method']:>8} {_f(c['mean']):>8} {_f(c['bias'], sign=True):>8} "
            f"{_f(c['std']):>7} {ci:>17} {_f(c['coverage'], 2):>6} {c['seconds']:>7.1f}  {note}"
        )
    return ruled_table(head, lines)


def format_bias_matrix(cells: Sequence[dict[str, Any]], methods: Sequence[str], mis: Sequence[float]) -> str:
    """bias +- sd per method (rows) and true MI (columns), nats."""
    by = {(c["mi"], c["method"]): c for c in cells}
    head = f"{'method':>8} " + " ".join(f"{'MI ' + format(mi, 'g'):>15}" for mi in mis)
    lines = [head]
    for m in methods:
        row = []
        for mi in mis:
            c = by.get((mi, m))
            row.append(f"{_f(c['bias'], 2, True)} ±{_f(c['std'], 2)}" if c else "-")
        lines.append(f"{m:>8} " + " ".join(f"{r:>15}" for r in row))
    return "\n".join(lines)


def _parser_and_flags() -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    """The parser, and the sampler-option flags it took from the samplers' options dataclasses
    (option name -> the samplers that take it)."""
    samplers = list(SAMPLERS)
    p = argparse.ArgumentParser(
        prog="python -m analysis.mi_bench",
        description="Run MI estimators on sources of known mutual information (by default the Poole et al. 2019 "
        "staircase: 20-d correlated Gaussians at 2, 4, 6, 8, 10 nats) and report mean, bias, spread across "
        "repeats, mean interval and wall time. All numbers in nats.",
    )
    p.add_argument("--suite", choices=SUITES, default="staircase",
                   help="staircase (default): one sampler over a grid of true MIs, the options below; tasks: the "
                   "known-MI task suite, MAE per family with coverage (python -m analysis.mi_bench --suite tasks --help)")
    g = p.add_argument_group("grid")
    g.add_argument(
        "--source", default="staircase", metavar="SAMPLER",
        help=f"the known-MI sampler (default staircase): {part_listing(samplers)}; or package.module:attribute, a class "
        "or factory (mi, **options) giving dim_x, dim_y, mutual_information (nats) and sample(n, seed) -> (x, y)",
    )
    g.add_argument("--source-options", type=json_object, default=None, metavar="JSON",
                   help="the sampler's options as a JSON object, e.g. '{\"dim\": 10}' (any sampler; a path sampler's "
                   "only way to get options)")
    g.add_argument("--methods", nargs="+", default=None, help=f"estimators: {', '.join(ESTIMATORS.names())} or package.module:attribute (default: {' '.join(DEFAULT_METHODS)})")
    g.add_argument("--mis", type=float, nargs="+", default=None, help="true MI values, nats (default 2 4 6 8 10; --quick 2 6)")
    rep = g.add_mutually_exclusive_group()
    rep.add_argument("--seeds", type=int, nargs="+", default=None, help="explicit seeds, one repeat each")
    rep.add_argument("--repeats", type=int, default=None, help="repeats, seeds 0..R-1 (default 3; --quick 2)")
    t = p.add_argument_group("training (neural bounds)")
    t.add_argument("--steps", type=int, default=None, help="Adam steps per estimate (default 4000 as in Poole et al.; --quick 200)")
    t.add_argument("--batch-size", type=int, default=64, help="minibatch K (default 64; InfoNCE <= log K)")
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--critic", choices=["separable", "concat"], default="separable")
    t.add_argument("--tau", type=float, default=5.0, help="SMILE clip (default 5)")
    t.add_argument("--patience", type=int, default=10, help="validations without improvement before stopping")
    t.add_argument("--samples", type=int, default=None, help="pairs per neural estimate, split 60/20/20 (default 32000; --quick 4000)")
    t.add_argument("--ksg-samples", type=int, default=None, help="pairs per KSG estimate (default 8000; --quick 1000)")
    t.add_argument("--ksg-k", type=int, default=3)
    o = p.add_argument_group("output")
    o.add_argument("--json", type=str, default=None, help="write the numbers as JSON here (unit: nats)")
    o.add_argument("--plot", type=str, default=None, help="write a figure here (.png, .pdf or .svg)")
    o.add_argument("--quick", action="store_true", help="small settings for a smoke run (about a minute)")
    o.add_argument("--jobs", type=int, default=None, help="estimates run in parallel (default: CPU count, max 4)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    o.add_argument("--resume", action="store_true",
                   help="continue an interrupted or failed run: rerun with the same arguments and --resume, and only "
                   "the estimates missing from its log are run. Every run with --json logs each estimate as it "
                   "finishes, one JSON line, to JSON.points.jsonl beside it; without --json no log is written. A log "
                   "of other settings is refused (exit 2); no log: every estimate runs")
    s = p.add_argument_group("sampler options", "each flag applies to the samplers its help names; the sampler's "
                             "own default otherwise")
    flags = add_option_flags(s, {e.name: e.options for e in samplers})
    return p, flags


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the benchmark; its samplers and their flags come from :data:`synthetic.SAMPLERS`."""
    return _parser_and_flags()[0]


def _options_text(given: dict[str, Any], from_json: dict[str, Any]) -> str:
    """The sampler options as the user gave them, for messages: flags as flags, the rest as JSON."""
    parts = [f"--{k.replace('_', '-')} {v}" for k, v in given.items() if k not in from_json]
    if from_json:
        parts.append(f"--source-options '{json.dumps(from_json)}'")
    return " ".join(parts)


def sampler_options(args: argparse.Namespace, flags: dict[str, list[str]]) -> dict[str, Any]:
    """The chosen sampler's options from its flags and ``--source-options``; ValueError (exit 2) for an
    unknown sampler, a flag the sampler does not take, or an option given both ways."""
    return part_options(args, SAMPLERS, args.source, flags, args.source_options, "--source", "--source-options")


def _built_samplers(source: str, options: dict[str, Any], from_json: dict[str, Any], mis: Sequence[float]) -> list[KnownMISampler]:
    """The sampler at every MI of the grid, built now so that a bad option or an MI the sampler cannot
    reach (the Student-t's floor) is refused before any estimate runs."""
    built = []
    for mi in mis:
        try:
            built.append(get_sampler(source, mi=mi, **options))
        except (ValueError, TypeError) as e:  # TypeError: the object built is not a known-MI sampler
            given = _options_text(options, from_json)
            raise ValueError(f"--source {source}{' ' + given if given else ''} at --mis {mi:g}: {e}") from None
    return built


def _settings(args: argparse.Namespace, flags: dict[str, list[str]]) -> BenchSettings:
    quick = args.quick
    methods = args.methods or list(DEFAULT_METHODS)
    for m in methods:
        try:
            ESTIMATORS.get(m)  # a registered name, an entry point or package.module:attribute
        except ValueError as e:
            raise ValueError(f"--methods: {e}") from None
    mis = args.mis or ([2.0, 6.0] if quick else [2.0, 4.0, 6.0, 8.0, 10.0])
    if any(not (mi > 0 and math.isfinite(mi)) for mi in mis):
        raise ValueError(f"--mis must all be finite and > 0, got {mis}")
    if args.repeats is not None and args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    seeds = args.seeds or list(range(args.repeats if args.repeats is not None else (2 if quick else 3)))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct, got {seeds}")
    require_seed("--seeds", seeds)
    if args.jobs is not None:
        require_at_least("--jobs", args.jobs, 1)
    steps = args.steps if args.steps is not None else (200 if quick else 4000)
    samples = args.samples if args.samples is not None else (4000 if quick else 32_000)
    ksg_samples = args.ksg_samples if args.ksg_samples is not None else (1000 if quick else 8000)
    for name, value, low in (("--steps", steps, 1), ("--batch-size", args.batch_size, 2),
                             ("--patience", args.patience, 1), ("--ksg-k", args.ksg_k, 1)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    require_positive("--lr", args.lr)
    require_positive("--tau", args.tau)
    if any(m in NEURAL or m in ("ba", "doe") for m in methods) and samples < max(10 * args.batch_size, 1280):
        # 20 % validation needs one batch and 20 % test two: n >= 10 K
        # (doe trains on batches of 256 from the 60 % training split)
        raise ValueError(f"--samples must be >= max(10 x --batch-size, 1280) = {max(10 * args.batch_size, 1280)}, got {samples}")
    if "ksg" in methods and ksg_samples <= args.ksg_k + 1:
        raise ValueError(f"--ksg-samples must be > --ksg-k + 1, got {ksg_samples}")
    source_options = sampler_options(args, flags)
    first = _built_samplers(args.source, source_options, dict(args.source_options or {}), mis)[0]
    notes = []
    if steps != 4000:
        notes.append(f"{steps} steps per neural estimate, not the 4000 of Poole et al. 2019")
    notes.append(
        f"fixed data sets: {samples} pairs per neural estimate split 60/20/20 (train/validation/test) with early "
        f"stopping (patience {args.patience} x 50 steps); Poole et al. draw fresh batches every step"
    )
    return BenchSettings(
        source=args.source, mis=[float(m) for m in mis], methods=list(methods), seeds=list(seeds), steps=steps,
        batch_size=args.batch_size, lr=args.lr, samples=samples, ksg_samples=ksg_samples, ksg_k=args.ksg_k,
        critic=args.critic, tau=args.tau, patience=args.patience, source_options=source_options, dim=first.dim_x,
        dim_y=first.dim_y, df=getattr(first, "df", None), quick=quick, notes=notes,
    )


def bench_report(
    settings: BenchSettings, cells: Sequence[dict[str, Any]], runtime_s: float, interrupted: bool, jobs: int
) -> dict[str, Any]:
    """The JSON report of a benchmark (nats; the published fields of ``benchmarks/results/mi_bench*.json``)."""
    return study_report({
        "unit": "nats",
        "source": settings.source,
        "runtime_s": runtime_s,
        "interrupted": interrupted,
        "machine": platform.platform(),
        "jobs": jobs,
        "torch_threads": 1,
        "log_k": math.log(settings.batch_size),
        "settings": settings,
        "published_context": {"note": "figures quoted from the papers, not measured here", "items": list(PUBLISHED_CONTEXT)},
        "cells": list(cells),
    })


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 0, 2 on bad arguments, 130 if interrupted. With ``--suite tasks``
    the known-MI task suite runs instead (:mod:`analysis.mi_suite`, which takes the rest of the arguments)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--suite", choices=SUITES, default="staircase")
    known, rest = pre.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    if known.suite == "tasks":
        from analysis import mi_suite  # the suite's own parser and flags

        return mi_suite.main(rest)
    argv = rest
    parser, flags = _parser_and_flags()
    args, settings = parse_study_args(parser, argv, lambda a: _settings(a, flags))
    tasks = len(settings.mis) * len(settings.methods) * len(settings.seeds)
    jobs = args.jobs if args.jobs is not None else min(4, mp.cpu_count(), tasks)
    if jobs < 1:
        parser.error(f"--jobs must be >= 1, got {jobs}")
    log_path = points_log_path(args.json)
    points_log, logged = open_study_log(parser, log_path, run_settings_hash(settings), args.resume, "--json")
    start = time.perf_counter()
    cells, interrupted = run_grid(settings, jobs=jobs, progress=not args.no_progress, points_log=points_log,
                                  logged=logged)
    runtime = time.perf_counter() - start
    print(f"\nsource {settings.source}  dim {settings.dim} + {settings.dim_y}  unit: nats  "
          f"steps {settings.steps}  batch K {settings.batch_size}  repeats {len(settings.seeds)}")
    print(format_table(cells, settings.batch_size))
    print("\nbias ± sd across repeats (nats):")
    print(format_bias_matrix(cells, settings.methods, settings.mis))
    print("\nPublished figures (context from the papers, NOT measured here):")
    for line in PUBLISHED_CONTEXT:
        print(f"  - {line}")
    for note in settings.notes:
        print(f"note: {note}")
    print(f"runtime {runtime:.1f} s on {jobs} process(es)")
    if args.json:
        write_report(args.json, bench_report(settings, cells, runtime, interrupted, jobs))
    if args.plot and cells:
        plot_mi_bench(cells, settings, args.plot)
    return 130 if interrupted else 0


def plot_mi_bench(cells: Sequence[dict[str, Any]], settings: BenchSettings, path: str | Path) -> None:
    """One panel per method, Poole et al. 2019 Fig. 2 style: the MI values laid out as a staircase of
    training segments; the training bound (first seed, light), the held-out estimate of every seed
    (dots) with the mean ± sd (bar), the truth (black steps) and log K for InfoNCE (dashed)."""
    methods = [m for m in settings.methods if any(c["method"] == m for c in cells)]
    ncol = min(3, len(methods))
    nrow = math.ceil(len(methods) / ncol)
    with styled_figure(path, nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), squeeze=False, sharey=True) as (fig, axes):
        pal = palette(len(methods))
        mis = settings.mis
        seg = settings.steps
        truth = {c["mi"]: c["true_mi"] for c in cells}
        top = max(truth.values())
        for ax, m, color in zip(axes.flat, methods, pal):
            for i, mi in enumerate(mis):
                x0 = i * seg
                ax.hlines(truth.get(mi, mi), x0, x0 + seg, color="black", lw=1.5, label="true MI" if i == 0 else None)
                c = next((c for c in cells if c["mi"] == mi and c["method"] == m), None)
                if c is None:
                    continue
                if c["curve"]:
                    xs = x0 + (np.arange(len(c["curve"])) + 0.5) * CURVE_STRIDE
                    ax.plot(xs, c["curve"], color=color, alpha=0.35, lw=0.8,
                            label="training-batch value (seed 0)" if i == 0 else None)
                xm = x0 + 0.85 * seg
                if c["mean"] > top * 1.5 + 1.0:
                    # diverged far above the axis: say so instead of silently clipping it away
                    ax.annotate(f"off scale:\nmean {_f(c['mean'], 1)}", (xm, top * 1.5 + 0.6), ha="center", va="top",
                                fontsize=6, color=color, rotation=90)
                ax.plot([xm] * len(c["values"]), c["values"], ".", color=color, ms=4, alpha=0.7)
                ax.errorbar([xm], [c["mean"]], yerr=[[c["std"] or 0.0]], fmt="o", color=color, ms=5, capsize=3,
                            label="held-out estimate, mean ± sd" if i == 0 else None)
            if m == "infonce":
                ax.axhline(math.log(settings.batch_size), color="0.3", ls="--", lw=1,
                           label=f"log K = {math.log(settings.batch_size):.2f}")
            ax.set_title(m)
            ax.set_xticks([(i + 0.5) * seg for i in range(len(mis))], [f"{truth.get(mi, mi):g}" for mi in mis])
            ax.set_xlabel("true MI (nats); one segment of training steps each")
            ax.set_ylim(-1.0, top * 1.5 + 1.0)
            ax.legend(fontsize=6, loc="upper left")
        for ax in axes.flat[len(methods):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("estimate (nats)")
        fig.suptitle(f"MI estimators on {settings.source} (dim {settings.dim}+{settings.dim_y}), batch {settings.batch_size}, "
                     f"{settings.steps} steps, {len(settings.seeds)} seeds", fontsize=10)


if __name__ == "__main__":
    sys.exit(main())
