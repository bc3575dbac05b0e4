"""python -m analysis.rd_gap: train codecs across beta and show how far each is from R(D), and why.

The source and the codec are parts found by name in :data:`synthetic.SOURCES` and
:data:`ibflow.CODECS` (vector codecs) or given as ``package.module:attribute``; their flags come
from their options dataclasses. A FlowCodec is measured every way ibflow can (E KL, the I(X;Z)
sandwich, binned rate, real bitstream); any other codec through the codec contract alone
(:func:`analysis.measure.measure_operational`).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from analysis.measure import OPERATIONAL_FIELDS, draw, measure_operational, measure_point, source_parameters, source_variances
from analysis.parallel import add_scheduler_argument, check_scheduler, ran_on, run_tasks
from analysis.points_log import LoggedPoints, PointsLog, open_study_log, points_log_path, settings_hash
from analysis.cli import (
    json_object, parse_study_args, part_listing, part_options, require_at_least, require_positive, require_seed,
)
from analysis.plots import palette, styled_figure
from analysis.report import format_number, ruled_table, study_report, write_report
from contracts import CodingPreparedCodec, FittedCodec, add_option_flags, make_options
from ibflow import CODECS, FlowCodec, TrainConfig, TrainingDiverged, get_codec, train
from ibflow.vector.batched import BatchedFlowCodec, can_batch
from synthetic import SOURCES, Source, get_source
from synthetic.sources.empirical import EmpiricalSource

__all__ = [
    "build_parser", "main", "SweepSettings", "checked_vector_codec", "TrainedPoint", "train_point", "measure_trained", "run_point", "run_sweep", "sweep_report", "default_betas", "format_table",
    "plot_rd_gap", "source_params", "codec_options", "build_codec", "point_settings_hash",
]

GAP_TARGET_BITS = 0.02
# analysis.measure.measure_point sandwiches I(X;Z) over batches of K >= 2048 test samples and takes the
# standard error across batches: fewer than K samples cannot be measured at all, and the 4 batches it
# aims for at the smallest K need 8192 (a high-rate point picks a larger K and gets fewer batches).
MIN_SANDWICH_BATCH = 2048
MIN_SANDWICH_BATCHES = 4
MIN_SANDWICH_SAMPLES = MIN_SANDWICH_BATCH * MIN_SANDWICH_BATCHES
BITS = 1.0 / math.log(2)


@dataclass
class SweepSettings:
    """Everything a sweep point needs; picklable so points can run in worker processes."""

    source: str
    params: dict[str, Any]
    betas: list[float]
    train: TrainConfig | None = field(default_factory=TrainConfig)  # None (--steps 0): measured as given
    codec: str = "flowcodec"
    codec_options: dict[str, Any] = field(default_factory=dict)
    n_eval: int = 262_144
    delta: float | None = None
    device: str = "cpu"
    checkpoint_dir: str | None = None
    seed: int = 0
    fit_samples: int = 131_072
    batched: bool = False  # train the betas together where they can be (ibflow.vector.batched)


def default_betas(source: Source) -> list[float]:
    """Six betas from high to low rate, scaled to the source: for a Gaussian, D* = beta/2 per
    dimension, so beta = 2 * (mean per-dimension variance) * {0.025 ... 0.75} spans about 2.7 to
    0.2 bits per dimension."""
    s2 = float(np.mean(source_variances(source)))
    return [round(2 * s2 * f, 6) for f in (0.025, 0.05, 0.1, 0.25, 0.5, 0.75)]


def build_codec(spec: str, dim: int, options: dict[str, Any], beta: float | None = None) -> torch.nn.Module:
    """The vector codec ``spec`` for inputs of dimension ``dim``: a registered name or a
    ``package.module:attribute`` class or factory, called as ``make(dim, **options)``, or as
    ``make(dim, beta=beta, **options)`` when it names a ``beta`` parameter (a factory that loads a codec
    trained elsewhere for that beta)."""
    codec = get_codec(spec, dim, context={"beta": beta}, **options)
    missing = [m for m in ("forward", "compress", "decompress") if not callable(getattr(codec, m, None))]
    if missing or not isinstance(codec, torch.nn.Module):
        raise ValueError(
            f"--codec {spec!r} must build a torch.nn.Module with forward, compress and decompress "
            f"(the codec contract); it built {type(codec).__name__}{' without ' + ', '.join(missing) if missing else ''}"
        )
    return codec


def checked_vector_codec(
    flag: str, spec: str, dim: int, options: dict[str, Any], beta: float
) -> tuple[dict[str, Any], torch.nn.Module]:
    """The options in force for codec ``spec`` (defaults included, so a report says what ran) and one codec
    built with them at ``beta``: an unknown or non-vector registered codec, a bad option or a failing
    build raises ValueError naming ``flag``, before any training. A path or entry point may be any codec."""
    try:
        entry = CODECS.get(spec)
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    if entry.origin == "registered" and "vector" not in entry.tags:
        vector = ", ".join(CODECS.tagged("vector"))
        raise ValueError(f"{flag} {entry.name!r} is not a vector codec (its tags: {', '.join(sorted(entry.tags)) or 'none'}); "
                         f"choose one of {vector}")
    if entry.options is not None:
        resolved = make_options(entry.options, options, owner=f"codec {entry.name!r}")
        options = {f: getattr(resolved, f) for f in resolved.__dataclass_fields__}
    try:
        codec = build_codec(spec, dim, options, beta=beta)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{flag} {spec}: {e}") from None
    return options, codec


def _checkpoint_name(settings: SweepSettings, beta: float) -> str:
    parts = [settings.source] if settings.codec == "flowcodec" else [settings.source, settings.codec]
    stem = "_".join(p.replace(":", "-").replace(".", "-").replace("/", "-") for p in parts)
    return f"{stem}_beta{beta:g}.pt"


@dataclass
class TrainedPoint:
    """A codec fitted and trained at one beta (:func:`train_point`), with its source and timings."""

    codec: torch.nn.Module
    source: Source
    fit_seconds: float
    train_seconds: float


def train_point(settings: SweepSettings, beta: float, progress: bool = False) -> TrainedPoint | dict[str, Any]:
    """Build the codec for ``beta``, call its ``fit(x, beta)`` if it has one (:class:`contracts.FittedCodec`),
    train its parameters if it has any, then its ``prepare_coding(x)`` (:class:`contracts.CodingPreparedCodec`);
    with ``settings.train`` None (--steps 0) none of these run. Returns the trained point, or the
    error point of a diverged training."""
    source = get_source(settings.source, **settings.params)
    torch.manual_seed(settings.seed)
    codec = build_codec(settings.codec, source.dim, settings.codec_options, beta=beta).to(settings.device)
    device = torch.device(settings.device)
    sample = lambda n, seed: draw(source, n, seed).to(device)  # noqa: E731
    ckpt = None
    if settings.checkpoint_dir is not None:
        ckpt = Path(settings.checkpoint_dir) / _checkpoint_name(settings, beta)
    train_seconds = fit_seconds = 0.0
    if settings.train is not None:  # --steps 0: the codec is measured as its factory built it
        fit_seed = settings.seed + 2_000_003  # training samples: never the test samples (seed + 1_000_003)
        if isinstance(codec, FittedCodec):  # Lloyd's algorithm, a step search, ...: before any gradient step
            t0 = time.perf_counter()
            codec.fit(sample(settings.fit_samples, fit_seed), beta)
            fit_seconds = time.perf_counter() - t0
        if any(p.requires_grad for p in codec.parameters()):
            try:
                train_seconds = train(codec, sample, beta, settings.train, checkpoint=ckpt, progress=progress).seconds
            except TrainingDiverged as e:
                return {"beta": beta, "codec": settings.codec, "error": str(e), "violations": [f"training diverged: {e}"]}
        if isinstance(codec, CodingPreparedCodec):  # e.g. an entropy model fitted to the trained latents
            codec.prepare_coding(sample(settings.fit_samples, fit_seed).cpu())
    return TrainedPoint(codec.cpu(), source, fit_seconds, train_seconds)


def train_batched(settings: SweepSettings, betas: Sequence[float], progress: bool = False) -> tuple[dict[float, TrainedPoint], list[float]]:
    """Train the ``betas``' codecs together (:class:`ibflow.vector.batched.BatchedFlowCodec`) where they can
    be: 1-D FlowCodecs on the CPU, without per-point checkpoints. Returns (the trained points by beta, the
    betas left to train one by one: all of them where batching does not apply or the batched run
    diverged, so that each then diverges, or not, on its own). Each point's ``train_seconds`` is its share
    of the batched run's."""
    if not betas or settings.train is None or settings.checkpoint_dir is not None or settings.device != "cpu":
        return {}, list(betas)
    source = get_source(settings.source, **settings.params)
    codecs = []
    for beta in betas:
        torch.manual_seed(settings.seed)  # as train_point seeds each point's codec
        codecs.append(build_codec(settings.codec, source.dim, settings.codec_options, beta=beta))
    if not can_batch(codecs):
        return {}, list(betas)
    batched = BatchedFlowCodec(codecs, betas)  # type: ignore[arg-type]
    sample = lambda n, seed: draw(source, n, seed)  # noqa: E731
    try:
        seconds = train(batched, sample, 1.0, settings.train, progress=progress).seconds
    except TrainingDiverged:
        return {}, list(betas)
    return {b: TrainedPoint(c, source, 0.0, seconds / len(betas)) for b, c in zip(betas, batched.unstack())}, []


def run_group(settings: SweepSettings, betas: Sequence[float], progress: bool = False) -> list[dict[str, Any]]:
    """Train ``betas``' codecs together where they can be (:func:`train_batched`), the others one by one,
    and measure every point: one worker's share of a ``--batched`` sweep."""
    if mp.parent_process() is not None:
        # a worker beside others: the batched tensors are large enough for torch's intra-op threads, and
        # workers x threads beyond the cores spin against each other (measured: 3x slower on 2 cores)
        torch.set_num_threads(1)
    trained, rest = train_batched(settings, betas, progress)
    points = [measure_trained(settings, beta, trained[beta]) for beta in betas if beta in trained]
    return points + [run_point(settings, beta, progress) for beta in rest]


def measure_trained(settings: SweepSettings, beta: float, trained: TrainedPoint, name: str | None = None) -> dict[str, Any]:
    """Measure a trained codec: a FlowCodec with :func:`analysis.measure.measure_point` (and, where it
    codes its own way, its own bytes as the operational rate), any other codec with
    :func:`analysis.measure.measure_operational`. ``name``: the codec's name in the point (default
    ``settings.codec``)."""
    codec, source = trained.codec, trained.source
    start = time.perf_counter()
    if isinstance(codec, FlowCodec):
        point = measure_point(codec, source, beta, n_eval=settings.n_eval, seed=settings.seed, delta=settings.delta)
        if type(codec).compress is not FlowCodec.compress:  # coded its own way: its own bytes are the operational rate
            own = measure_operational(codec, source, beta, n_eval=settings.n_eval, seed=settings.seed)
            point.update({k: own[k] for k in OPERATIONAL_FIELDS})
            point["violations"] = point["violations"] + own["violations"]
    else:
        point = measure_operational(codec, source, beta, n_eval=settings.n_eval, seed=settings.seed)
    point["codec"] = name or settings.codec
    point["fit_seconds"] = trained.fit_seconds
    point["train_seconds"] = trained.train_seconds
    point["measure_seconds"] = time.perf_counter() - start
    return point


def run_point(settings: SweepSettings, beta: float, progress: bool = False) -> dict[str, Any]:
    """Fit and train one codec at ``beta`` (:func:`train_point`) and measure it (:func:`measure_trained`)."""
    torch.set_num_threads(1)  # one thread per point: sweep points run in parallel processes
    start = time.perf_counter()
    trained = train_point(settings, beta, progress)
    if isinstance(trained, dict):
        return trained
    point = measure_trained(settings, beta, trained)
    point["point_seconds"] = time.perf_counter() - start
    return point


def point_settings_hash(settings: SweepSettings) -> str:
    """The hash a sweep's points are logged under: every setting that determines a point, so not the
    list of betas (each point's key) or the checkpoint directory (where it is saved)."""
    # batched training follows the separate runs up to rounding: a log of either serves both
    determining = {k: v for k, v in asdict(settings).items() if k not in ("betas", "checkpoint_dir", "batched")}
    return settings_hash("rd_gap", determining)


def run_sweep(
    settings: SweepSettings, jobs: int = 1, progress: bool = True,
    points_log: PointsLog | None = None, logged: LoggedPoints | None = None, scheduler: str | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Train and measure every beta; returns (points sorted by beta, interrupted). Ctrl-C stops
    cleanly and returns what was finished.

    Each point is appended to ``points_log`` (if given) as it finishes; the betas with a point in
    ``logged`` (an earlier run's, :mod:`analysis.points_log`) take that point instead of running."""
    kept: list[dict[str, Any]] = []
    tasks = []
    for beta in settings.betas:
        point = logged.take(beta) if logged is not None else None
        if point is None:
            tasks.append((settings, beta))
        else:
            kept.append(point)
    on_result = None if points_log is None else (lambda p: points_log.append(p["beta"], p))
    if settings.batched and tasks:
        # one group of betas per worker (every jobs-th beta), each trained together and measured there
        betas = [beta for _, beta in tasks]
        groups = [betas[i::jobs] for i in range(min(jobs, len(betas)))] if scheduler is None else [[b] for b in betas]
        on_group = None if on_result is None else (lambda ps: [on_result(p) for p in ps])
        results, interrupted = run_tasks(run_group, [(settings, g) for g in groups], jobs, progress, desc="sweep",
                                         inline_extra=(progress,), on_result=on_group, scheduler=scheduler)
        points = [p for group in results for p in group]
    else:
        points, interrupted = run_tasks(run_point, tasks, jobs, progress, desc="sweep", inline_extra=(progress,),
                                        on_result=on_result, scheduler=scheduler)
    return sorted(kept + points, key=lambda p: p["beta"]), interrupted


def _rows(points: Sequence[dict[str, Any]], exact_rd: bool, row: Any) -> list[str]:
    """One table line per point: ``row(point, R(D) cell)``, or the error of a point that failed."""
    lines = []
    for p in points:
        if "error" in p:
            lines.append(f"{p['beta']:>7g}  {p['error']}")
            continue
        rd = format_number(p["rd_lower"]) if exact_rd else f"[{format_number(p['rd_lower'])}, {format_number(p['rd_upper'])}]"
        lines.append(row(p, rd))
    return lines


def _flag(p: dict[str, Any]) -> str:
    return "VIOLATION" if p["violations"] else ("ok" if p["gap"] <= GAP_TARGET_BITS else "gap>target")


def format_operational_table(points: Sequence[dict[str, Any]], exact_rd: bool) -> str:
    """The table of a codec measured through the contract alone (bits per sample): D from the
    decoded output, R(D) there, the model's own rate, the real bytes, and the gap bytes - R(D)."""
    rd_head = "R(D)" if exact_rd else "R(D) [lo, up]"
    head = f"{'beta':>7} {'D':>8} {'D*':>8} {rd_head:>17} {'model rate':>11} {'operational':>12} {'gap':>8} {'decoded':>8}  flag"

    def row(p: dict[str, Any], rd: str) -> str:
        decoded = {True: "exact", False: "NO", None: "-"}[p["decoded_exactly"]]
        return (
            f"{p['beta']:>7g} {p['distortion']:>8.4f} {format_number(p['distortion_theory']):>8} {rd:>17} "
            f"{format_number(p['rate_model']):>11} {p['rate_operational']:>12.4f} {p['gap']:>+8.4f} {decoded:>8}  {_flag(p)}"
        )

    return ruled_table(head, _rows(points, exact_rd, row))


def format_table(points: Sequence[dict[str, Any]], exact_rd: bool) -> str:
    """The table printed by the CLI (bits per sample; D is squared error summed over dimensions).
    Points measured through the contract alone (no ``rate_kl``) get :func:`format_operational_table`."""
    if any("error" not in p and "rate_kl" not in p for p in points):
        return format_operational_table(points, exact_rd)
    rd_head = "R(D)" if exact_rd else "R(D) [lo, up]"
    head = (
        f"{'beta':>7} {'D':>8} {'D*':>8} {rd_head:>17} {'E KL ±95%':>17} {'I(X;Z) sandwich':>17} "
        f"{'binned (D)':>17} {'coded (D)':>17} {'gap = prior + channel':>26}  flag"
    )

    def row(p: dict[str, Any], rd: str) -> str:
        kl_half = 0.5 * (p["rate_kl_ci"][1] - p["rate_kl_ci"][0])
        gap = f"{p['gap']:+.4f} = {p['gap_prior']:+.4f} {p['gap_channel']:+.4f}"
        flag = _flag(p)
        kl = f"{p['rate_kl']:.4f} ±{kl_half:.4f}"
        mi = f"[{p['mi_lower']:.4f},{p['mi_upper']:.4f}]"
        binned = f"{p['rate_binned']:.4f} ({p['distortion_binned']:.4f})"
        coded = f"{p['rate_coded']:.4f} ({p['distortion_coded']:.4f})"
        return (
            f"{p['beta']:>7g} {p['distortion']:>8.4f} {format_number(p['distortion_theory']):>8} {rd:>17} {kl:>17} "
            f"{mi:>17} {binned:>17} {coded:>17} {gap:>26}  {flag}"
        )

    return ruled_table(head, _rows(points, exact_rd, row))


def _draw_bound_chain(ax: Any, points: Sequence[dict[str, Any]], pal: Sequence[Any]) -> None:
    """A FlowCodec's measurements: E KL with its 95 % interval, the I(X;Z) sandwich, binned and bitstream rates."""
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


def plot_rd_gap(source: Source, points: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """R(D) (or its bounds) with every measured point: for a FlowCodec E KL with its 95 % interval,
    the I(X;Z) sandwich, the binned rate and the bitstream rate; for any other codec its real bytes
    and its model rate. For Gaussian vectors a second panel shows the per-dimension rate allocation
    against reverse water-filling."""
    per_dim = any(p.get("rate_per_dim") for p in points)
    with styled_figure(path, 1, 2 if per_dim else 1, figsize=(11 if per_dim else 6, 4.2), squeeze=False) as (_, axes):
        ax = axes[0, 0]
        d_all = [p["distortion"] for p in points] + [p.get("distortion_binned", p["distortion"]) for p in points]
        total = float(np.sum(source_variances(source)))
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
        if "rate_kl" in points[0]:
            _draw_bound_chain(ax, points, pal)
            labelled = "rate_kl"
        else:  # a codec measured through the contract alone
            ax.plot([p["distortion"] for p in points], [p["rate_operational"] for p in points], "x", color=pal[3],
                    ms=7, label="bitstream (real bytes)")
            model = [p for p in points if p["rate_model"] is not None]
            ax.plot([p["distortion"] for p in model], [p["rate_model"] for p in model], "o", mfc="none",
                    color=pal[0], ms=6, label="model rate")
            labelled = "rate_operational"
        for p in points:
            ax.annotate(f"β={p['beta']:g}", (p["distortion"], p[labelled]), textcoords="offset points",
                        xytext=(5, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("distortion D (squared error per sample)")
        ax.set_ylabel("rate (bits per sample)")
        ax.set_title(title or "rate-distortion")
        ax.legend(fontsize=8)
        if per_dim:
            ax2 = axes[0, 1]
            var = source_variances(source) if getattr(source, "is_diagonal", True) else np.asarray(source.eigenvalues)
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
    """Source parameters from the command line (only the ones given): ``--params`` JSON, then the
    source's own flags."""
    return part_options(args, SOURCES, args.source, args.source_flags, args.params, "--source", "--params")


def codec_options(args: argparse.Namespace) -> dict[str, Any]:
    """Codec options from the command line (only the ones given): ``--codec-options`` JSON, then the
    codec's own flags."""
    return part_options(args, CODECS, args.codec, args.codec_flags, args.codec_options, "--codec", "--codec-options")


def build_parser() -> argparse.ArgumentParser:
    """The parser, built from the source and codec registries: every registered source and vector
    codec with its one-line summary, and one flag per option any of them takes."""
    sources = list(SOURCES)
    codecs = [CODECS.get(name) for name in CODECS.tagged("vector")]
    nl = "\n  "
    p = argparse.ArgumentParser(
        prog="python -m analysis.rd_gap",
        description="Train codecs across beta on a source with known R(D) and report the gap to R(D). A FlowCodec is "
        "measured four ways (E KL, the I(X;Z) sandwich, binned rate, real bitstream); any other codec by its real "
        "bytes against R(D) at its decoded distortion. Rates in bits per sample.",
        epilog=f"sources:\n  {part_listing(sources, sep=nl)}\n\ncodecs:\n  {part_listing(codecs, sep=nl)}\n\nA source or codec may also be a "
        "package.module:attribute path: a source factory taking its parameters as keywords (--params), a codec class or "
        "factory called as make(dim, **options) (--codec-options) that keeps the codec contract "
        "(forward -> {x_hat, likelihoods or rate}, compress, decompress).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("source", "each flag applies to the sources its help names")
    src.add_argument("--source", default="gaussian", metavar="SOURCE",
                     help=f"one of {', '.join(e.name for e in sources)}, or package.module:attribute (default: gaussian)")
    src.add_argument("--params", type=json_object, metavar="JSON", help="the source's parameters as one JSON object")
    source_flags = add_option_flags(src, {e.name: e.options for e in sources})
    cod = p.add_argument_group("codec and training", "each codec flag applies to the codecs its help names")
    cod.add_argument("--codec", default="flowcodec", metavar="CODEC",
                     help=f"one of {', '.join(e.name for e in codecs)}, or package.module:attribute (default: flowcodec)")
    cod.add_argument("--codec-options", type=json_object, metavar="JSON", help="the codec's options as one JSON object")
    cod.add_argument("--betas", type=float, nargs="+", help="rate multipliers (default: six spanning low to high rate)")
    cod.add_argument("--steps", type=int, default=None,
                     help="training steps per point (default 800; --quick 150); 0: no fitting or training, every codec "
                     "is measured as its factory built it (a codec trained elsewhere)")
    cod.add_argument("--fit-samples", type=int, default=131_072,
                     help="training samples given to a codec's own fit(x, beta) (Lloyd, step search; default 2^17)")
    cod.add_argument("--batch-size", type=int, default=2048)
    cod.add_argument("--lr", type=float, default=2e-2)
    cod.add_argument("--schedule", choices=["constant", "linear", "cosine"], default="linear", help="beta warm-up")
    cod.add_argument("--seed", type=int, default=0)
    codec_flags = add_option_flags(cod, {e.name: e.options for e in codecs})
    cod.add_argument("--checkpoint-dir", type=str, default=None, help="write a checkpoint per point here")
    ev = p.add_argument_group("evaluation and output")
    ev.add_argument("--eval-samples", type=int, default=None,
                    help="test samples per point (default 2^18; --quick 2^15; a FlowCodec needs >= 8192)")
    ev.add_argument("--delta", type=float, default=None, help="bin width in the prior's base space (default: matched)")
    ev.add_argument("--json", type=str, default=None, help="write the numbers as JSON here")
    ev.add_argument("--plot", type=str, default=None, help="write a figure here (.png, .pdf or .svg)")
    ev.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    ev.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ev.add_argument("--jobs", type=int, default=None, help="sweep points trained in parallel (default: CPU count, max 4)")
    ev.add_argument("--batched", action=argparse.BooleanOptionalAction, default=False,
                    help="train the betas' codecs together in batched models, one per worker process (1-D FlowCodecs "
                    "on the CPU without --checkpoint-dir; others train one by one), each measuring its own points. "
                    "Faster, but equal to the default's points only up to rounding, which then depends on how the "
                    "betas are grouped (--jobs, a cluster); the default trains every point alone, the same digits "
                    "whatever the jobs, the cluster or a resume")
    add_scheduler_argument(ev)
    ev.add_argument("--no-progress", action="store_true", help="no progress bars")
    ev.add_argument("--resume", action="store_true",
                    help="continue an interrupted or failed run: rerun with the same arguments and --resume, and only "
                    "the betas missing from its points log are trained. Every run logs each point as it finishes, "
                    "one JSON line, to JSON.points.jsonl beside --json, else to points.jsonl in --checkpoint-dir; "
                    "with neither no log is written. A log of other settings is refused (exit 2); no log: every "
                    "point runs")
    # which parts take which flag: the settings step checks the given flags against the chosen parts
    p.set_defaults(source_flags=source_flags, codec_flags=codec_flags)
    return p


def _settings(args: argparse.Namespace, source: Source) -> SweepSettings:
    steps = args.steps if args.steps is not None else (150 if args.quick else 800)
    n_eval = args.eval_samples if args.eval_samples is not None else (2**15 if args.quick else 2**18)
    for name, value, low in (("--steps", steps, 0), ("--batch-size", args.batch_size, 2), ("--eval-samples", n_eval, 2),
                             ("--fit-samples", args.fit_samples, 2)):
        require_at_least(name, value, low)
    require_positive("--lr", args.lr)
    require_seed("--seed", args.seed)
    if args.jobs is not None:
        require_at_least("--jobs", args.jobs, 1)
    if args.scheduler is not None:
        if args.device == "cuda":
            raise ValueError("--scheduler runs on the cluster's workers: leave --device at cpu")
        check_scheduler(args.scheduler)
    betas = args.betas or default_betas(source)
    if any(not (b > 0 and math.isfinite(b)) for b in betas):
        raise ValueError(f"--betas must all be finite and > 0, got {betas}")
    if args.quick and not args.betas:
        betas = betas[::2]
    if args.delta is not None and not args.delta > 0:
        raise ValueError(f"--delta must be > 0, got {args.delta}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    cfg = TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, seed=args.seed) if steps else None
    options = codec_options(args)
    if steps == 0 and CODECS.get(args.codec).origin == "registered":
        raise ValueError(f"--steps 0 measures a codec as its factory built it (one trained elsewhere, given as a "
                         f"package.module:attribute path or entry point); the built-in {args.codec!r} would be untrained: "
                         "use --steps >= 1")
    options, codec = checked_vector_codec("--codec", args.codec, source.dim, options, betas[0])
    if isinstance(codec, FlowCodec):  # measured with the I(X;Z) sandwich (analysis.measure.measure_point)
        require_at_least("--eval-samples", n_eval, MIN_SANDWICH_SAMPLES,
                         f"{MIN_SANDWICH_BATCHES} sandwich batches of {MIN_SANDWICH_BATCH}, the smallest batch "
                         "analysis.measure.measure_point uses")
    return SweepSettings(
        source=args.source,
        params=source_params(args),
        betas=list(betas),
        train=cfg,
        codec=args.codec,
        codec_options=options,
        n_eval=n_eval,
        delta=args.delta,
        device=args.device,
        checkpoint_dir=args.checkpoint_dir,
        seed=args.seed,
        fit_samples=args.fit_samples,
        batched=args.batched,
    )


def sweep_report(
    settings: SweepSettings, source: Source, points: Sequence[dict[str, Any]], runtime_s: float, interrupted: bool
) -> dict[str, Any]:
    """The JSON report of a sweep (bits; the published field names of ``benchmarks/results/rd_gap_*.json``)."""
    return study_report({
        "source": settings.source,
        "params": source_parameters(source),
        "dim": source.dim,
        "unit": "bits",
        "runtime_s": runtime_s,
        "interrupted": interrupted,
        # the codec's options sit beside the other settings, under the names the FlowCodec's had
        "settings": {
            **{k: v for k, v in asdict(settings).items() if k not in ("source", "params", "codec_options")},
            **settings.codec_options,
        },
        "points": list(points),
    })


def _source_and_settings(args: argparse.Namespace) -> tuple[Source, SweepSettings]:
    source = get_source(args.source, **source_params(args))
    if isinstance(source, EmpiricalSource):
        source.require_bounds("--source")
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
    log_path = points_log_path(args.json, settings.checkpoint_dir)
    points_log, logged = open_study_log(parser, log_path, point_settings_hash(settings), args.resume, "--json or --checkpoint-dir")
    points, interrupted = run_sweep(settings, jobs=jobs, progress=not args.no_progress, points_log=points_log,
                                    logged=logged, scheduler=args.scheduler)
    runtime = time.perf_counter() - start
    exact = all(p.get("rd_lower") == p.get("rd_upper") for p in points if "error" not in p)
    codec_note = "" if settings.codec == "flowcodec" else f"  codec {settings.codec}"
    print(f"\nsource {args.source} {source_parameters(source)}  dim {source.dim}{codec_note}  unit: bits per sample "
          f"(D: squared error per sample, summed over dims)")
    print(format_table(points, exact))
    good = [p for p in points if "error" not in p]
    n_viol = sum(bool(p["violations"]) for p in points)
    if good:
        worst = max(p["gap"] for p in good)
        which = "E KL" if "rate_kl" in good[0] else "operational rate"
        print(f"\nmax gap {which} - R(D): {worst:.4f} bits (target {GAP_TARGET_BITS}); violations: {n_viol}; "
              f"runtime {runtime:.1f} s on {ran_on(jobs, args.scheduler)}")
    for p in points:
        for v in p["violations"]:
            print(f"VIOLATION at beta={p['beta']:g}: {v}", file=sys.stderr)
    if args.json:
        write_report(args.json, sweep_report(settings, source, points, runtime, interrupted))
    if args.plot and good:
        plot_rd_gap(source, good, args.plot, title=f"{args.source} {source_parameters(source)}")
    if interrupted:
        return 130
    return 1 if n_viol else 0


if __name__ == "__main__":
    sys.exit(main())
