"""python -m analysis.mi_bench --suite tasks: MI estimators on the known-MI task suite, MAE and coverage per family (nats)."""

from __future__ import annotations

import argparse
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

from analysis.cli import parse_study_args, require_at_least, require_seed
from analysis.parallel import run_tasks
from analysis.plots import palette, styled_figure
from analysis.points_log import PointsLog, LoggedPoints, open_study_log, points_log_path, settings_hash
from analysis.report import format_number, ruled_table, study_report, write_report
from contracts.stats import normal_quantile
from estimators import ESTIMATORS, estimate_mi
from estimators.intervals import student_t_interval
from estimators.registry import declared_options
from synthetic.mi_tasks import MI_TASKS, TASK_FAMILIES, get_task

__all__ = [
    "SuiteSettings",
    "SUITE_METHODS",
    "BASELINES",
    "IBFLOW_METHODS",
    "build_parser",
    "main",
    "run_estimate",
    "run_suite",
    "summarize_families",
    "check_targets",
    "format_family_table",
    "format_task_table",
    "plot_suite",
    "plot_pmi_profiles",
]

BASELINES = ("ksg", "infonce", "dv", "nwj")  # the KSG, InfoNCE, MINE (dv: the DV bound trained as MINE), NWJ
IBFLOW_METHODS = ("doe", "flow")
SUITE_METHODS = BASELINES + IBFLOW_METHODS
PMI_KEPT = 1000  # held-out PMI values kept per (task, method) for the profiles, first seed only


@dataclass
class SuiteSettings:
    """Everything one estimate needs; picklable so estimates can run in worker processes."""

    tasks: list[str]
    methods: list[str]
    seeds: list[int]
    n: int = 5000
    critic_steps: int = 4000
    critic_batch_size: int = 64
    critic_lr: float = 5e-4
    patience: int = 10
    ksg_k: int = 3
    notes: list[str] = field(default_factory=list)


def _method_options(settings: SuiteSettings, method: str, seed: int) -> dict[str, Any]:
    """The options each estimate runs with: the critics get the staircase benchmark's training
    settings; ``doe``, ``flow`` and a user's method their own defaults (and the seed where they take one)."""
    if method == "ksg":
        return {"k": settings.ksg_k, "seed": seed}
    if "critic" in ESTIMATORS.get(method).tags:
        return {"steps": settings.critic_steps, "batch_size": settings.critic_batch_size, "lr": settings.critic_lr,
                "patience": settings.patience, "critic": "separable", "seed": seed, "progress": False}
    return declared_options(method, {"seed": seed, "progress": False})


def run_estimate(settings: SuiteSettings, task_name: str, method: str, seed: int) -> dict[str, Any]:
    """One estimate: draw ``settings.n`` pairs of the task with ``seed`` and run ``method`` on them.

    Every method sees the same pairs for a given (task, seed) (common random numbers). For the first
    seed the estimate's held-out pointwise MI (where the method returns one) and the true PMI of
    the task's pairs are kept, ``PMI_KEPT`` values each, for the profiles."""
    torch.set_num_threads(1)  # one thread per worker: estimates run in parallel processes
    task = get_task(task_name)
    sampler = task.build()
    x, y = sampler.sample(settings.n, seed=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # InfoNCE's near-cap warning: the cap is a known property, not news
        est = estimate_mi(x, y, method=method, **_method_options(settings, method, seed))
    seconds = time.perf_counter() - start
    keep_pmi = seed == settings.seeds[0]
    pmi = est.extra.get("pmi")
    run: dict[str, Any] = {
        "task": task.name,
        "family": task.family,
        "method": method,
        "seed": seed,
        "dim_x": sampler.dim_x,
        "dim_y": sampler.dim_y,
        "true_mi": float(sampler.mutual_information),
        "true_mi_se": float(getattr(sampler, "mutual_information_se", 0.0)),
        "value": float(est.value),
        "ci": [float(c) for c in est.ci] if est.ci is not None else None,
        "interval": est.extra.get("interval"),
        "in_sample": est.extra.get("in_sample"),
        "held_out": est.extra.get("held_out"),
        "seconds": seconds,
        "steps_run": est.extra.get("steps_run"),
        "pmi": np.round(np.asarray(pmi, dtype=np.float64)[:PMI_KEPT], 4).tolist() if keep_pmi and pmi is not None else None,
    }
    if keep_pmi and method == settings.methods[0] and hasattr(sampler, "pmi"):
        run["true_pmi"] = np.round(np.asarray(sampler.pmi(x[:PMI_KEPT], y[:PMI_KEPT]), dtype=np.float64), 4).tolist()
    return run


def _covers(run: dict[str, Any]) -> bool | None:
    ci = run["ci"]
    if ci is None or not all(math.isfinite(c) for c in ci):
        return None
    return bool(ci[0] <= run["true_mi"] <= ci[1])


def _mean_interval(values: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Student-t interval of the mean of ``values`` (the family's task x seed errors, treated as replicates)."""
    if values.size < 2:
        return None
    return list(student_t_interval(float(values.mean()), values, level))


def _wilson(hits: int, total: int, level: float = 0.95) -> list[float] | None:
    """Wilson score interval of a coverage proportion (Wilson 1927)."""
    if total == 0:
        return None
    z = normal_quantile(level)
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return [centre - half, centre + half]


def summarize_families(runs: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    """Per (family, method) and over all tasks ("all"): MAE with its 95 % interval, mean bias,
    coverage of the truth by the methods' 95 % intervals (with a Wilson interval), mean seconds."""
    cells = []
    for family in [*TASK_FAMILIES, "all"]:
        for m in methods:
            group = [r for r in runs if r["method"] == m and (family == "all" or r["family"] == family)]
            if not group:
                continue
            err = np.array([r["value"] - r["true_mi"] for r in group], dtype=np.float64)
            covered = [c for c in (_covers(r) for r in group) if c is not None]
            cells.append({
                "family": family,
                "method": m,
                "estimates": len(group),
                "tasks": len({r["task"] for r in group}),
                "mae": float(np.abs(err).mean()),
                "mae_ci": _mean_interval(np.abs(err)),
                "bias": float(err.mean()),
                "coverage": float(np.mean(covered)) if covered else None,
                "coverage_ci": _wilson(int(np.sum(covered)), len(covered)) if covered else None,
                "intervals": len(covered),
                "seconds": float(np.mean([r["seconds"] for r in group])),
                "seconds_max": float(np.max([r["seconds"] for r in group])),
            })
    return cells


def check_targets(cells: Sequence[dict[str, Any]], spiral_mae: float = 0.05) -> list[dict[str, Any]]:
    """The issue's targets per family: the best ibflow method's MAE at most half the best baseline's,
    and at most ``spiral_mae`` nats on the spiral family. Only the methods that ran count."""
    out = []
    for family in TASK_FAMILIES:
        fam = {c["method"]: c for c in cells if c["family"] == family}
        ours = [fam[m] for m in IBFLOW_METHODS if m in fam]
        base = [fam[m] for m in BASELINES if m in fam]
        if not ours or not base:
            continue
        best_ours = min(ours, key=lambda c: c["mae"])
        best_base = min(base, key=lambda c: c["mae"])
        row = {
            "family": family,
            "best_ibflow": best_ours["method"],
            "best_ibflow_mae": best_ours["mae"],
            "best_baseline": best_base["method"],
            "best_baseline_mae": best_base["mae"],
            "ratio": best_ours["mae"] / best_base["mae"] if best_base["mae"] > 0 else math.inf,
        }
        row["half_of_baseline"] = row["ratio"] <= 0.5
        if family == "spiral":
            row["spiral_target_nats"] = spiral_mae
            row["spiral_met"] = best_ours["mae"] <= spiral_mae
        out.append(row)
    return out


def _f(v: float | None, digits: int = 3, sign: bool = False) -> str:
    return format_number(v, digits, sign=sign, blank_nonfinite=True, exponent_from=1e4)


def format_family_table(cells: Sequence[dict[str, Any]]) -> str:
    """MAE (with its 95 % interval), bias, coverage of the 95 % intervals and time, per family and method."""
    head = (f"{'family':>12} {'method':>8} {'est':>4} {'MAE':>7} {'MAE 95% CI':>17} {'bias':>7} "
            f"{'cover':>6} {'cover 95% CI':>14} {'sec':>6}")
    rows = []
    for c in cells:
        ci = f"[{_f(c['mae_ci'][0])}, {_f(c['mae_ci'][1])}]" if c["mae_ci"] else "-"
        cov = f"[{_f(c['coverage_ci'][0], 2)}, {_f(c['coverage_ci'][1], 2)}]" if c["coverage_ci"] else "-"
        rows.append(f"{c['family']:>12} {c['method']:>8} {c['estimates']:>4} {_f(c['mae']):>7} {ci:>17} "
                    f"{_f(c['bias'], sign=True):>7} {_f(c['coverage'], 2):>6} {cov:>14} {c['seconds']:>6.1f}")
    return ruled_table(head, rows)


def format_task_table(runs: Sequence[dict[str, Any]], methods: Sequence[str]) -> str:
    """Per task: the truth and each method's mean estimate over seeds (a * where its interval missed the truth once or more)."""
    names = list(dict.fromkeys(r["task"] for r in runs))
    head = f"{'task':>28} {'dims':>7} {'true MI':>8} " + " ".join(f"{m:>9}" for m in methods)
    rows = []
    for name in names:
        group = [r for r in runs if r["task"] == name]
        first = group[0]
        cells = []
        for m in methods:
            rs = [r for r in group if r["method"] == m]
            if not rs:
                cells.append(f"{'-':>9}")
                continue
            missed = any(_covers(r) is False for r in rs)
            cells.append(f"{_f(float(np.mean([r['value'] for r in rs]))) + ('*' if missed else ' '):>9}")
        dims = f"{first['dim_x']}+{first['dim_y']}"
        rows.append(f"{name:>28} {dims:>7} {first['true_mi']:>8.3f} " + " ".join(cells))
    return ruled_table(head, rows)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the suite benchmark."""
    p = argparse.ArgumentParser(
        prog="python -m analysis.mi_bench --suite tasks",
        description="Run MI estimators on the known-MI task suite (synthetic.mi_tasks: multinormal, marginal maps, "
        "spirals, Student-t, mixtures) and print the mean absolute error per family and method with its interval, "
        "the coverage of each method's 95% intervals, and whether the issue's targets are met. All numbers in nats.",
    )
    p.add_argument("--methods", nargs="+", default=None,
                   help=f"estimators (default: {' '.join(SUITE_METHODS)}): {', '.join(ESTIMATORS.names())} or package.module:attribute")
    p.add_argument("--tasks", nargs="+", default=None, help=f"task names (default: all {len(MI_TASKS)})")
    p.add_argument("--families", nargs="+", default=None, choices=list(TASK_FAMILIES), help="only these families")
    rep = p.add_mutually_exclusive_group()
    rep.add_argument("--seeds", type=int, nargs="+", default=None, help="explicit seeds, one repeat each")
    rep.add_argument("--repeats", type=int, default=None, help="repeats per task, seeds 0..R-1 (default 2; --quick 1)")
    p.add_argument("--n", type=int, default=None, help="pairs per estimate (default 5000, the issue's; --quick 2000)")
    p.add_argument("--critic-steps", type=int, default=None, help="Adam steps of the critic baselines (default 4000; --quick 300)")
    p.add_argument("--critic-batch-size", type=int, default=64, help="critic minibatch K (default 64; InfoNCE <= log K)")
    p.add_argument("--critic-lr", type=float, default=5e-4)
    p.add_argument("--patience", type=int, default=10, help="critic validations without improvement before stopping")
    p.add_argument("--json", type=str, default=None, help="write every estimate and the summaries as JSON here (unit: nats)")
    p.add_argument("--plot", type=str, default=None, help="write the MAE / coverage figure here (.png, .pdf or .svg)")
    p.add_argument("--pmi-plot", type=str, default=None,
                   help="write the pointwise MI profiles (estimated vs true, first seed) here (.png, .pdf or .svg)")
    p.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    p.add_argument("--jobs", type=int, default=None, help="estimates run in parallel (default: CPU count, max 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from JSON.points.jsonl (needs --json)")
    return p


def _settings(args: argparse.Namespace) -> SuiteSettings:
    methods = args.methods or list(SUITE_METHODS)
    for m in methods:
        try:
            ESTIMATORS.get(m)
        except ValueError as e:
            raise ValueError(f"--methods: {e}") from None
    if len(set(methods)) != len(methods):
        raise ValueError(f"--methods must be distinct, got {methods}")
    names = [t.name for t in MI_TASKS]
    tasks = args.tasks or names
    unknown = [t for t in tasks if t not in names]
    if unknown:
        raise ValueError(f"--tasks: unknown task(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.families:
        tasks = [t for t in tasks if get_task(t).family in args.families]
        if not tasks:
            raise ValueError(f"--families {' '.join(args.families)} leaves no task of --tasks")
    if args.repeats is not None:
        require_at_least("--repeats", args.repeats, 1)
    seeds = args.seeds or list(range(args.repeats if args.repeats is not None else (1 if args.quick else 2)))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct, got {seeds}")
    require_seed("--seeds", seeds)
    n = args.n if args.n is not None else (2000 if args.quick else 5000)
    critic_steps = args.critic_steps if args.critic_steps is not None else (300 if args.quick else 4000)
    # 60 % trains: doe's and flow's batch of 256 must fit, and the critics' 20 % test split needs two batches
    require_at_least("--n", n, max(1280, 10 * args.critic_batch_size), "60/20/20 splits with whole batches")
    require_at_least("--critic-steps", critic_steps, 1)
    require_at_least("--critic-batch-size", args.critic_batch_size, 2)
    require_at_least("--patience", args.patience, 1)
    if not (args.critic_lr > 0 and math.isfinite(args.critic_lr)):
        raise ValueError(f"--critic-lr must be a finite number > 0, got {args.critic_lr}")
    if args.jobs is not None:
        require_at_least("--jobs", args.jobs, 1)
    notes = [f"{n} pairs per estimate, every method on the same pairs; critics split them 60/20/20 with early "
             f"stopping (patience {args.patience} x 50 steps), {critic_steps} steps at most, batch {args.critic_batch_size}"]
    return SuiteSettings(tasks=list(tasks), methods=list(methods), seeds=list(seeds), n=n, critic_steps=critic_steps,
                         critic_batch_size=args.critic_batch_size, critic_lr=args.critic_lr, patience=args.patience,
                         notes=notes)


def run_settings_hash(settings: SuiteSettings) -> str:
    """The hash an estimate is logged under: the settings that determine it (not the grid or the notes)."""
    determining = {k: v for k, v in asdict(settings).items() if k not in ("tasks", "methods", "seeds", "notes")}
    return settings_hash("mi_suite", determining)


def run_suite(settings: SuiteSettings, jobs: int = 1, progress: bool = True, points_log: PointsLog | None = None,
              logged: LoggedPoints | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every (task, method, seed) estimate; returns (runs in task order, interrupted)."""
    grid = [(t, m, s) for t in settings.tasks for m in settings.methods for s in settings.seeds]
    runs, missing = [], []
    for key in grid:
        run = logged.take(list(key)) if logged is not None else None
        (missing if run is None else runs).append(key if run is None else run)
    # slow estimates first, so that a pool does not end on one long straggler
    order = sorted(missing, key=lambda k: k[1] == "ksg")
    on_result = None if points_log is None else (lambda r: points_log.append([r["task"], r["method"], r["seed"]], r))
    new, interrupted = run_tasks(run_estimate, [(settings, *k) for k in order], jobs, progress, desc="mi_suite",
                                 on_result=on_result)
    runs += new
    index = {key: i for i, key in enumerate(grid)}
    runs.sort(key=lambda r: index[(r["task"], r["method"], r["seed"])])
    return runs, interrupted


def _print_targets(targets: Sequence[dict[str, Any]]) -> None:
    print("\ntargets (best ibflow MAE <= 1/2 best baseline MAE per family; spiral MAE <= 0.05 nats):")
    for t in targets:
        line = (f"  {t['family']:>12}: {t['best_ibflow']} {t['best_ibflow_mae']:.3f} vs {t['best_baseline']} "
                f"{t['best_baseline_mae']:.3f} (ratio {t['ratio']:.2f}) -> {'met' if t['half_of_baseline'] else 'NOT met'}")
        if "spiral_met" in t:
            line += f"; spiral <= {t['spiral_target_nats']}: {'met' if t['spiral_met'] else 'NOT met'}"
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; exit status 0, 2 on bad arguments, 130 if interrupted."""
    parser = build_parser()
    args, settings = parse_study_args(parser, argv, _settings)
    count = len(settings.tasks) * len(settings.methods) * len(settings.seeds)
    jobs = args.jobs if args.jobs is not None else min(4, mp.cpu_count(), count)
    points_log, logged = open_study_log(parser, points_log_path(args.json), run_settings_hash(settings), args.resume,
                                        "--json")
    start = time.perf_counter()
    runs, interrupted = run_suite(settings, jobs, not args.no_progress, points_log, logged)
    runtime = time.perf_counter() - start
    cells = summarize_families(runs, settings.methods)
    targets = check_targets(cells)
    print(f"\nknown-MI task suite: {len(settings.tasks)} tasks, {len(settings.seeds)} seed(s), n = {settings.n}, unit: nats")
    print(format_task_table(runs, settings.methods))
    print("(* : the method's 95% interval missed the truth for at least one seed)\n")
    print(format_family_table(cells))
    _print_targets(targets)
    for note in settings.notes:
        print(f"note: {note}")
    print(f"runtime {runtime:.1f} s on {jobs} process(es)")
    if args.json:
        write_report(args.json, study_report({
            "unit": "nats", "runtime_s": runtime, "interrupted": interrupted, "machine": platform.platform(),
            "jobs": jobs, "torch_threads": 1, "settings": settings, "families": cells, "targets": targets,
            "runs": runs,
        }))
    if args.plot and runs:
        plot_suite(cells, settings.methods, args.plot)
    if args.pmi_plot and runs:
        plot_pmi_profiles(runs, args.pmi_plot)
    return 130 if interrupted else 0


def plot_suite(cells: Sequence[dict[str, Any]], methods: Sequence[str], path: str | Path) -> None:
    """Two panels: MAE per family and method (bars, 95 % intervals), and coverage of the 95 % intervals (with
    the nominal 0.95 and the issue's 0.90 marked)."""
    families = [f for f in [*TASK_FAMILIES, "all"] if any(c["family"] == f for c in cells)]
    by = {(c["family"], c["method"]): c for c in cells}
    width = 0.8 / max(len(methods), 1)
    with styled_figure(path, 1, 2, figsize=(12, 4)) as (fig, axes):
        for m, color, i in zip(methods, palette(len(methods)), range(len(methods))):
            xs = np.arange(len(families)) + (i - (len(methods) - 1) / 2) * width
            for ax, key, ci in ((axes[0], "mae", "mae_ci"), (axes[1], "coverage", "coverage_ci")):
                vals = [by[(f, m)][key] if (f, m) in by and by[(f, m)][key] is not None else np.nan for f in families]
                # clipped at 0: a Wilson bound at coverage 1 can round to a hair below it
                lo = [max(v - by[(f, m)][ci][0], 0.0) if (f, m) in by and by[(f, m)][ci] else 0 for f, v in zip(families, vals)]
                hi = [max(by[(f, m)][ci][1] - v, 0.0) if (f, m) in by and by[(f, m)][ci] else 0 for f, v in zip(families, vals)]
                ax.bar(xs, vals, width, color=color, label=m, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], capsize=2)
        axes[0].set_yscale("log")
        axes[0].set_ylabel("mean absolute error (nats)")
        axes[1].axhline(0.95, color="black", lw=1, ls="--", label="nominal 0.95")
        axes[1].axhline(0.90, color="0.4", lw=1, ls=":", label="aim 0.90")
        axes[1].set_ylabel("coverage of the 95% intervals")
        axes[1].set_ylim(0, 1.05)
        for ax in axes:
            ax.set_xticks(np.arange(len(families)), families)
        axes[0].legend(fontsize=7, ncol=2)
        axes[1].legend(fontsize=7, ncol=2, loc="lower left")
        fig.suptitle("MI estimators on the known-MI task suite (nats)", fontsize=10)


def plot_pmi_profiles(runs: Sequence[dict[str, Any]], path: str | Path, columns: int = 6) -> None:
    """One panel per task: the distribution of the true pointwise MI of the task's pairs (grey) and of each
    density method's held-out PMI (Czyż et al. 2025, "pointwise mutual information profiles"), first seed;
    vertical lines at the true MI and the estimates."""
    truth = {r["task"]: r for r in runs if r.get("true_pmi") is not None}
    with_pmi = sorted({r["method"] for r in runs if r.get("pmi") is not None})
    names = [t for t in dict.fromkeys(r["task"] for r in runs) if t in truth]
    if not names:
        return
    rows = math.ceil(len(names) / columns)
    colors = dict(zip(with_pmi, palette(len(with_pmi))))
    with styled_figure(path, rows, columns, figsize=(2.6 * columns, 2.1 * rows), squeeze=False) as (fig, axes):
        for ax, name in zip(axes.flat, names):
            t = np.asarray(truth[name]["true_pmi"])
            lo, hi = np.quantile(t, [0.005, 0.995])
            span = hi - lo
            bins = np.linspace(lo - 0.3 * span, hi + 0.3 * span, 40)
            ax.hist(t, bins=bins, density=True, color="0.75", label="true PMI")
            ax.axvline(truth[name]["true_mi"], color="black", lw=1)
            for r in runs:
                if r["task"] == name and r.get("pmi") is not None:
                    ax.hist(r["pmi"], bins=bins, density=True, histtype="step", color=colors[r["method"]], lw=1.2,
                            label=r["method"])
                    ax.axvline(r["value"], color=colors[r["method"]], lw=0.8, ls="--")
            ax.set_title(name, fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in axes.flat[len(names):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=6)
        fig.suptitle("pointwise MI profiles: true (grey) and estimated on held-out pairs (nats; lines: MI and estimates)",
                     fontsize=9)


if __name__ == "__main__":
    sys.exit(main())
