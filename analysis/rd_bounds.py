"""python -m analysis.rd_bounds: upper and lower bounds on R(D) from samples, for data with no closed form.

Either a registered source (``--source NAME``, its samples drawn fresh: a check against its known
R(D)) or finite data (``--data digits|patches|PATH.npy``: scikit-learn's 8x8 digits, 8x8 grey patches
of scikit-image's photos, or the rows of a .npy array). At each D (squared error per sample, summed
over dimensions) it prints an upper bound (the rate of an explicit test channel: a fitted Gaussian,
Gaussian mixture or particle reproduction distribution, :mod:`estimators.rd.upper`) and a lower bound
(Csiszar's dual, Yang & Mandt 2022, :mod:`estimators.rd.dual`), each with a 95 % interval from the
held-out samples. For data, the run's bounds are cached so that ``analysis.rd_gap`` and
``analysis.codec_compare`` can audit codecs on ``--source data:NAME`` against them.

The lower bound needs samples that grow like e^{R(D)} (see :mod:`estimators.rd.dual`), so the default
grid stops where the Gaussian bound reaches ``--max-rate`` bits.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from analysis.cli import json_object, parse_study_args, part_listing, part_options, require_at_least, require_positive, require_seed
from analysis.report import format_number, ruled_table, study_report, write_report
from contracts import add_option_flags
from estimators.rd import FAMILIES, RDBoundsConfig, RDBoundsResult, UpperPoint, estimate_rd_bounds, principal_variances, upper_bounds
from synthetic import SOURCES, get_source
from synthetic.rd import reverse_water_filling_rate
from synthetic.sources.empirical import DATASETS, EmpiricalSource, bounds_cache_path

__all__ = ["BoundsSettings", "build_parser", "default_distortions", "main", "run_bounds", "bounds_report"]

BITS = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class BoundsSettings:
    """What one run does (the JSON's ``settings``)."""

    source: str | None
    data: str | None
    params: dict[str, Any]
    distortions: list[float]
    train_samples: int
    eval_samples: int
    config: RDBoundsConfig = field(default_factory=RDBoundsConfig)
    max_rate_bits: float = 4.0
    seed: int = 0
    flowcodec_steps: int = 0
    flowcodec_lr: float = 2e-2


def default_distortions(variances: np.ndarray, points: int, max_rate_bits: float) -> list[float]:
    """``points`` D, geometric from where the Gaussian bound (reverse water-filling on ``variances``,
    the covariance's eigenvalues) reaches ``max_rate_bits`` to 0.8 of the total variance.

    Example:
        >>> [round(d, 4) for d in default_distortions(np.array([1.0]), 3, 2.0)]  # D(2 bits) = 1/16
        [0.0625, 0.2236, 0.8]
    """
    total = float(np.sum(variances))
    low = reverse_water_filling_rate(np.clip(variances, 1e-300, None), max_rate_bits / BITS).distortion
    return [float(d) for d in np.geomspace(low, 0.8 * total, points)]


def _source_from_args(args: argparse.Namespace) -> tuple[Any, str | None, str | None, dict[str, Any]]:
    if args.data is not None and args.source is not None:
        raise ValueError("give either --source or --data, not both")
    spec = args.source
    if spec is not None and spec.startswith("data:"):
        spec, args.data = None, spec[len("data:"):]
    if args.data is not None:
        if args.params:
            raise ValueError("--params is for --source; data takes none")
        return get_source(f"data:{args.data}"), None, args.data, {}
    name = spec or "gaussian"
    params = part_options(args, SOURCES, name, args.source_flags, args.params, "--source", "--params")
    return get_source(name, **params), name, None, params


def _settings(args: argparse.Namespace) -> tuple[Any, BoundsSettings]:
    require_at_least("--points", args.points, 2)
    require_at_least("--train-samples", args.train_samples, 64)
    require_at_least("--eval-samples", args.eval_samples, 64)
    require_at_least("--steps", args.steps, 0)
    require_at_least("--components", args.components, 1)
    require_at_least("--particles", args.particles, 1)
    require_at_least("--flowcodec-steps", args.flowcodec_steps, 0)
    require_positive("--flowcodec-lr", args.flowcodec_lr)
    require_seed("--seed", args.seed)
    if not (args.max_rate > 0 and math.isfinite(args.max_rate)):
        raise ValueError(f"--max-rate must be finite and > 0 (bits), got {args.max_rate}")
    source, name, data, params = _source_from_args(args)
    if isinstance(source, EmpiricalSource):
        train, evaluate = source.rows("train"), source.rows("test")
        n_train, n_eval = len(train), len(evaluate)
    else:
        n_train, n_eval = args.train_samples, args.eval_samples
        train = torch.as_tensor(source.sample(65536, seed=args.seed + 5)).double()
    variances = principal_variances(train)
    total = float(np.sum(variances))
    distortions = list(args.distortions) if args.distortions else default_distortions(variances, args.points, args.max_rate)
    for D in distortions:
        if not (0 < D < total and math.isfinite(D)):
            raise ValueError(f"--distortions must lie in (0, {total:.6g}) (the total variance, where R = 0), got {D}")
    config = RDBoundsConfig(
        families=tuple(args.families), components=args.components, particles=args.particles, steps=args.steps, seed=args.seed
    )
    settings = BoundsSettings(
        source=name, data=data, params=params, distortions=sorted(distortions), train_samples=n_train,
        eval_samples=n_eval, config=config, max_rate_bits=args.max_rate, seed=args.seed,
        flowcodec_steps=args.flowcodec_steps,
        flowcodec_lr=args.flowcodec_lr,
    )
    return source, settings


def run_bounds(source: Any, settings: BoundsSettings, progress: bool = True) -> RDBoundsResult:
    """Draw (or split) the samples and estimate the bounds (nats)."""
    if isinstance(source, EmpiricalSource):
        train, evaluate = source.rows("train"), source.rows("test")
    else:
        train = torch.as_tensor(source.sample(settings.train_samples, seed=settings.seed + 1)).double()
        evaluate = torch.as_tensor(source.sample(settings.eval_samples, seed=settings.seed + 1_000_003)).double()
    bar = tqdm(total=len(settings.distortions) + 1, desc="rd_bounds", disable=not progress)

    def step(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update()

    try:
        result = estimate_rd_bounds(train, evaluate, settings.distortions, settings.config, progress=step)
    finally:
        bar.close()
    if settings.flowcodec_steps > 0:
        lams = [line.lam for line in result.lines]
        result.points.extend(flowcodec_points(train, evaluate, lams, settings.flowcodec_steps, settings.seed, progress,
                                              lr=settings.flowcodec_lr))
        result.upper = upper_bounds(result.points, result.distortions, result.d_max, result.d_max_se, z=settings.config.z)
    return result


def flowcodec_points(
    train: torch.Tensor, evaluate: torch.Tensor, lams: Sequence[float], steps: int, seed: int, progress: bool = True,
    lr: float = 2e-2,
) -> list[UpperPoint]:
    """FlowCodec as a variational upper bound: trained on the training rows at beta = 1 / lambda for each
    slope, measured on the held-out rows by one noise draw each, so that the per-sample E KL(q(z|x) || p(z))
    and distortion are unbiased. Its decoder is deterministic, so R(D) <= I(X; X_hat) <= I(X; Z) <= E KL
    (data processing and the variational bound, DESIGN.md) at its distortion. A slope whose training
    diverges gives no point (a warning names it): a bound need not have every family at every slope."""
    from ibflow import FlowCodec, TrainConfig, TrainingDiverged
    from ibflow import train as train_codec

    rows = train.float()

    def sample(n: int, s: int) -> torch.Tensor:
        return rows[torch.randint(len(rows), (n,), generator=torch.Generator().manual_seed(s))]

    x = evaluate.float()
    out = []
    for i, lam in enumerate(tqdm(list(lams), desc="flowcodec fits", disable=not progress)):
        torch.manual_seed(seed + i)
        codec = FlowCodec(int(x.shape[1]))
        try:
            train_codec(codec, sample, 1.0 / lam, TrainConfig(steps=steps, seed=seed + i, lr=lr), progress=False)
        except TrainingDiverged as e:
            print(f"warning: the FlowCodec fit at lambda {lam:.4g} gives no upper point: {e}", file=sys.stderr)
            continue
        with torch.no_grad():
            _, z = codec.sample_latent(x, torch.Generator().manual_seed(seed + 7_000_001 + i))
            kl = codec.kl_per_sample(z).double()
            dist = codec.distortion_per_sample(x, codec.decode(z)).double()
        n = len(x)
        out.append(UpperPoint(lam=float(lam), distortion=float(dist.mean()), distortion_se=float(dist.std() / math.sqrt(n)),
                              rate=float(kl.mean()), rate_se=float(kl.std() / math.sqrt(n)), method="flowcodec", n=n))
    return out


def bounds_report(source: Any, settings: BoundsSettings, result: RDBoundsResult, runtime_s: float) -> dict[str, Any]:
    """The JSON report: the bounds in bits per point, the fits and lines they came from, and the same
    bounds in nats for the cache (``bounds_nats``)."""
    known = settings.source is not None
    points = []
    for D, up, low in zip(result.distortions, result.upper, result.lower):
        p: dict[str, Any] = {
            "distortion": D,
            "upper": up.value * BITS, "upper_ci": [up.ci[0] * BITS, up.ci[1] * BITS],
            "lower": low.value * BITS, "lower_ci": [low.ci[0] * BITS, low.ci[1] * BITS],
            "method_upper": up.method, "method_lower": low.method,
        }
        if known:
            rd = source.rate_distortion(D)
            p["rd_lower"], p["rd_upper"] = rd.lower * BITS, rd.upper * BITS
        points.append(p)
    head: dict[str, Any] = {"source": settings.source} if known else {"data": settings.data}
    return study_report({
        **head,
        "params": settings.params,
        "dim": int(source.dim),
        "n": settings.train_samples + settings.eval_samples,
        "n_train": settings.train_samples,
        "n_eval": settings.eval_samples,
        "unit": "bits",
        "points": points,
        "violations": violations(points, settings.config.z),
        # every fitted channel's held-out point (distortion per sample; rate in bits)
        "fits": [{**asdict(p), "rate": p.rate * BITS, "rate_se": p.rate_se * BITS} for p in result.points],
        "lines": [{"lam": ln.lam, "intercept": ln.intercept * BITS, "intercept_se": ln.intercept_se * BITS,
                   "log_sup_c_nats": ln.log_sup_c, "effective_samples": ln.effective_samples} for ln in result.lines],
        "bounds_nats": {
            "d_max": result.d_max,
            "points": [{"distortion": p.distortion, "rate": p.rate} for p in result.points],
            "lines": [{"lam": ln.lam, "intercept": ln.intercept} for ln in result.lines],
        },
        "runtime_s": runtime_s,
        "settings": asdict(settings),
    })


def violations(points: Sequence[dict[str, Any]], z: float = 1.96) -> list[str]:
    """What no correct run shows: intervals of the two bounds that do not meet, or (for a source with
    known R(D)) an upper interval wholly below R(D) or a lower one wholly above it.

    The intervals are pointwise (``z``); the check widens them to hold simultaneously over all the
    points at 95 % (Bonferroni: z' = Phi^{-1}(1 - 0.025 / m)), or a 10-point run of exact bounds
    would be flagged four times in ten by chance alone.
    """
    from scipy.stats import norm

    wide = float(norm.ppf(1 - 0.025 / max(1, len(points)))) / z
    out = []
    for p in points:
        D = p["distortion"]
        up_hi = p["upper"] + wide * (p["upper_ci"][1] - p["upper"])
        low_lo = p["lower"] - wide * (p["lower"] - p["lower_ci"][0])
        if up_hi < low_lo:
            out.append(f"D = {D:.4g}: upper interval below the lower one")
        if "rd_lower" in p:
            if up_hi < p["rd_lower"]:
                out.append(f"D = {D:.4g}: upper bound below R(D) beyond its interval")
            if low_lo > p["rd_upper"]:
                out.append(f"D = {D:.4g}: lower bound above R(D) beyond its interval")
    return out


def format_table(report: dict[str, Any]) -> str:
    known = "source" in report
    head = f"{'D':>10} {'upper':>9} {'95% interval':>19} {'lower':>9} {'95% interval':>19} {'width':>8}" + (
        f" {'R(D)':>19}" if known else "") + "  upper from"
    rows = []
    for p in report["points"]:
        ci_u = f"[{format_number(p['upper_ci'][0])}, {format_number(p['upper_ci'][1])}]"
        ci_l = f"[{format_number(p['lower_ci'][0])}, {format_number(p['lower_ci'][1])}]"
        row = (f"{p['distortion']:>10.4g} {format_number(p['upper']):>9} {ci_u:>19} {format_number(p['lower']):>9} {ci_l:>19} "
               f"{format_number(p['upper'] - p['lower']):>8}")
        if known:
            rd = (format_number(p["rd_lower"]) if abs(p["rd_lower"] - p["rd_upper"]) < 1e-12
                  else f"[{format_number(p['rd_lower'])}, {format_number(p['rd_upper'])}]")
            row += f" {rd:>19}"
        rows.append(row + f"  {p['method_upper']}")
    return ruled_table(head, rows)


def plot_bounds(report: dict[str, Any], path: str | Path, codec_reports: Sequence[dict[str, Any]] = ()) -> Path:
    """R(D) bounds against D (log axis), intervals shaded, known R(D) and codecs' operational points beside."""
    from analysis.plots import palette, styled_figure

    pts = report["points"]
    D = np.array([p["distortion"] for p in pts])
    names = sorted({p.get("codec", "codec") for rep in codec_reports for p in rep.get("points", [])})
    colors = palette(3 + len(names))
    title = report.get("source") or f"data:{report.get('data')}"
    with styled_figure(path, figsize=(7.5, 4.8)) as (fig, ax):
        for key, label, c in (("upper", "upper bound (test channel)", colors[0]), ("lower", "lower bound (dual)", colors[1])):
            ax.plot(D, [p[key] for p in pts], "o-", color=c, label=label, ms=4)
            ax.fill_between(D, [p[f"{key}_ci"][0] for p in pts], [p[f"{key}_ci"][1] for p in pts], color=c, alpha=0.2, lw=0)
        if "rd_lower" in pts[0]:
            ax.plot(D, [p["rd_lower"] for p in pts], "k--", lw=1, label="R(D) (known)")
        cp = [p for rep in codec_reports for p in rep.get("points", []) if "rate_operational" in p and "error" not in p]
        for k, name in enumerate(names):
            mine = [p for p in cp if p.get("codec", "codec") == name]
            ax.plot([p["distortion_operational"] for p in mine], [p["rate_operational"] for p in mine], "s",
                    color=colors[3 + k], label=f"{name} (real bytes)", ms=5)
        ax.set_xscale("log")
        ax.set_xlabel("distortion D (squared error per sample)")
        ax.set_ylabel("rate (bits per sample)")
        ax.set_title(f"{title}: R(D) from {report['n_eval']} held-out samples")
        ax.legend(fontsize=8)
    return Path(path)


def build_parser() -> argparse.ArgumentParser:
    sources = list(SOURCES)
    nl = "\n  "
    p = argparse.ArgumentParser(
        prog="python -m analysis.rd_bounds",
        description="Upper and lower bounds on R(D) from samples, with 95 %% intervals from held-out samples. Rates in "
        "bits per sample; D is squared error per sample summed over dimensions.",
        epilog=f"sources:\n  {part_listing(sources, sep=nl)}\n\ndata: {', '.join(DATASETS)}, or a path to a .npy array (n, d)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_argument_group("what is bounded")
    src.add_argument("--source", default=None, metavar="SOURCE",
                     help="a registered source (default: gaussian), package.module:attribute, or data:NAME")
    src.add_argument("--data", default=None, metavar="NAME", help=f"finite data: {', '.join(DATASETS)}, or PATH.npy")
    src.add_argument("--params", type=json_object, metavar="JSON", help="the source's parameters as one JSON object")
    source_flags = add_option_flags(src, {e.name: e.options for e in sources})
    grid = p.add_argument_group("distortions and samples")
    grid.add_argument("--distortions", type=float, nargs="+", help="the D to bound at (default: --points of them)")
    grid.add_argument("--points", type=int, default=10, help="default grid size (default 10)")
    grid.add_argument("--max-rate", type=float, default=4.0,
                      help="the default grid starts where the Gaussian bound reaches this many bits (default 4)")
    grid.add_argument("--train-samples", type=int, default=2**16, help="fitting samples of a source (default 2^16; data: its training half)")
    grid.add_argument("--eval-samples", type=int, default=2**17, help="held-out samples of a source (default 2^17; data: its test half)")
    fit = p.add_argument_group("fits")
    fit.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(RDBoundsConfig().families),
                     help="reproduction families for the upper bound (particles only up to dimension 3)")
    fit.add_argument("--components", type=int, default=RDBoundsConfig().components, help="Gaussian mixture components (default 8)")
    fit.add_argument("--particles", type=int, default=RDBoundsConfig().particles, help="particles (default 256)")
    fit.add_argument("--steps", type=int, default=RDBoundsConfig().steps, help="Adam steps per fit (default 300)")
    fit.add_argument("--flowcodec-steps", type=int, default=0,
                     help="also train a FlowCodec per slope for this many steps: its E KL is one more upper bound "
                     "(the variational bound of ibflow's flow layers; default 0: off)")
    fit.add_argument("--flowcodec-lr", type=float, default=2e-2,
                     help="its Adam learning rate (default 0.02; in 64 dimensions 0.002, where 0.02 diverges)")
    fit.add_argument("--seed", type=int, default=0)
    out = p.add_argument_group("output")
    out.add_argument("--json", default=None, help="write the report here")
    out.add_argument("--plot", default=None, help="write a figure here (.png, .pdf or .svg)")
    out.add_argument("--codec-points", nargs="+", default=[], metavar="JSON",
                     help="rd_gap or codec_compare reports whose operational points the plot shows beside the bounds")
    out.add_argument("--no-progress", action="store_true")
    p.set_defaults(source_flags=source_flags)
    return p


def cache_bounds(source: EmpiricalSource, report: dict[str, Any]) -> Path:
    """Cache a report's bounds for ``source`` (by its content hash), where rd_gap and codec_compare
    look them up (:meth:`EmpiricalSource.load_cached_bounds`); returns the file."""
    return write_report(bounds_cache_path(source.fingerprint), {"data": report["data"], "bounds_nats": report["bounds_nats"],
                                                                "settings": report["settings"]})


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0; 1 if a check fails (see :func:`violations`); 2 on bad arguments."""
    parser = build_parser()
    start = time.perf_counter()
    args, (source, settings) = parse_study_args(parser, argv, _settings)
    codec_reports = []
    for path in args.codec_points:
        try:
            codec_reports.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as e:
            parser.error(f"--codec-points: cannot read {path!r}: {e}")
    result = run_bounds(source, settings, progress=not args.no_progress)
    report = bounds_report(source, settings, result, time.perf_counter() - start)
    print(format_table(report))
    if isinstance(source, EmpiricalSource):
        cache = cache_bounds(source, report)
        print(f"bounds cached for rd_gap / codec_compare --source data:{settings.data}: {cache}")
    if args.json:
        write_report(args.json, report)
    if args.plot:
        plot_bounds(report, args.plot, codec_reports)
    for v in report["violations"]:
        print(f"VIOLATION: {v}", file=sys.stderr)
    print(f"runtime {report['runtime_s']:.1f} s")
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
