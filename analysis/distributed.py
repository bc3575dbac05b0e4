"""Distributed source coding against its limits: a Wyner-Ziv FlowCodec (side information at the decoder)
and a two-terminal FlowCodec (two encoders, one decoder), trained on jointly Gaussian pairs.

    python -m analysis.distributed --setting wyner-ziv --rho 0.9 --json wz.json --plot wz.png
    python -m analysis.distributed --setting two-terminal --rho 0.9

Per beta, one codec is trained on D + beta R and measured on fresh samples:

* ``wyner-ziv``: x seen by the encoder, y = the correlated side information at the decoder only. The
  rate term E KL(q(z|x) || p(z|y)) bounds I(X; Z | Y) from above; the sandwich (q(z|x) known, contrast
  draws from p(x|y)) brackets I(X; Z | Y) itself; the bitstream sends the dithered latent index modulo
  a coset (:mod:`ibflow.vector.binning`), the decoder resolves it with y. The bound is R_WZ(D) =
  max(0, 1/2 log(s2 (1 - rho^2) / D)) (Wyner 1978), beside R(D) without side information.
* ``two-terminal``: X1 and X2 each seen by its own encoder; a joint decoder. The rate is the sum
  E KL of the corner-point decomposition R1 = I(X1; Z1), R2 = I(X2; Z2 | Z1); the bound is the
  Berger-Tung sum-rate optimum at the reached (D1, D2), tight for the quadratic Gaussian case
  (Wagner, Tavildar & Viswanath 2008).

A point is a VIOLATION when a rate that must lie above the bound (E KL, the sandwich's upper bound,
the bitstream) lies below it beyond its 95 % interval, at the distortion's interval end that favours
it: that is a bug, not a result.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from analysis.cli import parse_study_args, require_at_least, require_seed
from analysis.parallel import add_scheduler_argument, check_scheduler, run_tasks
from analysis.plots import palette, styled_figure
from analysis.report import format_number, ruled_table, study_report, write_report
from contracts.stats import Z_95
from ibflow import CODECS, TrainConfig, get_codec, train
from ibflow.vector import (
    TwoTerminalFlowCodec,
    WynerZivFlowCodec,
    encoder_is_monotone,
    fit_two_terminal_coding,
    fit_wyner_ziv_coding,
    measure_two_terminal_coding,
    measure_wyner_ziv_coding,
    rate_without_binning,
)
from ibflow.vector.rates import Measurement, batch_measurement, conditional_sandwich_terms, sandwich_terms
from synthetic.distributed import (
    centralized_gaussian_rd,
    gaussian_rd_without_side_information,
    two_terminal_regime,
    two_terminal_sum_rate,
)
from synthetic.sources import GaussianSideInformation

__all__ = ["DistributedSettings", "run_study", "format_table", "plot_study", "main", "SETTINGS"]

BITS = 1 / math.log(2)
SETTINGS = ("wyner-ziv", "two-terminal")
DEFAULT_BETAS = (0.02, 0.05, 0.1, 0.2)
GAP_TARGET_BITS = {"wyner-ziv": 0.02, "two-terminal": 0.05}
"""The issue's targets: E KL within 0.02 bit of R_WZ(D), the sum rate within 0.05 bit of Berger-Tung."""
CODEC_OF_SETTING = {"wyner-ziv": ("flowcodec-wyner-ziv", WynerZivFlowCodec), "two-terminal": ("flowcodec-two-terminal", TwoTerminalFlowCodec)}
"""Each setting's default codec (registered name) and the class a codec for it must be (or extend)."""


@dataclass(frozen=True)
class DistributedSettings:
    """One study: the setting, the correlation, the betas, training and measurement sizes."""

    setting: str
    rho: float
    betas: list[float]
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=1024, lr=1e-2, schedule="cosine"))
    eval_samples: int = 2**17
    design_samples: int = 2**15
    sandwich_samples: int = 2**14
    contrast: int = 256
    depth: int = 1
    hidden: int = 32
    codec: str | None = None  # a registered name or package.module:attribute; None: the setting's own


def _check_rho(rho: float) -> float:
    if not (math.isfinite(rho) and -1 < rho < 1):
        raise ValueError(f"--rho must lie in (-1, 1) (the correlation of the pair), got {rho}")
    return float(rho)


# ---------------------------------------------------------------- Wyner-Ziv


def _gap(per_rate: torch.Tensor, per_d: torch.Tensor, bound_of: Any) -> tuple[float, float, float]:
    """(the bound at the mean distortions, E rate - bound, its SE by the delta method) for per-sample rates
    (n,) and distortions (n, k), ``bound_of(D_1, ..., D_k)`` in nats: per sample r_i - grad(bound) . d_i,
    the gradient by central differences (0 where the bound is flat)."""
    D = per_d.mean(0).tolist()
    grad = []
    for j, Dj in enumerate(D):
        up, down = list(D), list(D)
        up[j], down[j] = Dj * (1 + 1e-6), Dj * (1 - 1e-6)
        grad.append((bound_of(*up) - bound_of(*down)) / (2e-6 * Dj))
    paired = per_rate - per_d @ torch.tensor(grad, dtype=per_d.dtype)
    bound = bound_of(*D)
    return bound, float(per_rate.mean()) - bound, float(paired.std() / math.sqrt(len(paired)))


C = TypeVar("C", WynerZivFlowCodec, TwoTerminalFlowCodec)


def build_distributed_codec(settings: DistributedSettings) -> Any:
    """The setting's codec for one-dimensional sources, ``settings.codec`` (a name of :data:`ibflow.CODECS`
    or ``package.module:attribute``, built as ``make(1, 1, depth=..., hidden=...)``) or the setting's own;
    a codec that is not (a subclass of) the setting's class raises a ValueError naming ``--codec``."""
    default, required = CODEC_OF_SETTING[settings.setting]
    spec = settings.codec or default
    tags = CODECS.get(spec).tags
    if tags and "distributed" not in tags:  # a registered codec of another family (a path has no tags)
        raise ValueError(f"--codec {spec!r} is a {'/'.join(sorted(tags))} codec, not a distributed one; "
                         f"--setting {settings.setting} codes with e.g. {default!r}")
    codec = get_codec(spec, 1, 1, depth=settings.depth, hidden=settings.hidden)
    if not isinstance(codec, required):
        raise ValueError(f"--codec {spec!r} built a {type(codec).__name__}; --setting {settings.setting} codes with a "
                         f"{required.__name__} (or a subclass), e.g. {default!r}")
    return codec


def _trained(codec: C, pair: GaussianSideInformation, settings: DistributedSettings, beta: float,
             progress: bool) -> tuple[C, float, torch.Tensor, torch.Tensor]:
    """(the codec trained at ``beta`` in eval mode and float64, training seconds, design rows, test rows):
    the design rows fit the bitstream's codes, the test rows measure; the sandwich draws its own third set."""
    seed = settings.train.seed
    t0 = time.perf_counter()
    train(codec, pair.sample, beta, settings.train, progress=progress)
    train_seconds = time.perf_counter() - t0
    codec = codec.eval().double()
    design = pair.sample(settings.design_samples, seed=10_000 + seed).double()
    test = pair.sample(settings.eval_samples, seed=20_000 + seed).double()
    return codec, train_seconds, design, test


def wyner_ziv_point(settings: DistributedSettings, beta: float, progress: bool = False) -> dict[str, Any]:
    """Train, code and measure one Wyner-Ziv FlowCodec at ``beta`` (rates in bits in the result)."""
    pair = GaussianSideInformation(settings.rho)
    seed = settings.train.seed
    torch.manual_seed(seed)
    codec, train_seconds, design, test = _trained(build_distributed_codec(settings), pair, settings, beta, progress)
    x, y = codec.split(test)
    with torch.no_grad():
        out = codec(test, torch.Generator().manual_seed(seed))
    per_d = codec.distortion_per_sample(x, out["x_hat"]).double()
    per_kl = out["rate"].double()
    dist, rate = Measurement.of(per_d), Measurement.of(per_kl)
    D = dist.value

    # the I(X; Z | Y) sandwich, contrast draws from p(x | y) (q(z|x) is known)
    xs, ys = codec.split(pair.sample(settings.sandwich_samples, seed=30_000 + seed).double())
    with torch.no_grad():
        mean, z = codec.sample_latent(xs, torch.Generator().manual_seed(seed + 1))
        others = pair.sample_x_given_y(ys, settings.contrast - 1, seed=40_000 + seed)
        contrast = codec.encode(others.reshape(-1, 1)).reshape(len(xs), settings.contrast - 1, 1)
    lo_terms, up_terms = conditional_sandwich_terms(mean, z, contrast, float(codec.sigma))
    mi_lo, mi_up = Measurement.of(lo_terms), Measurement.of(up_terms)

    code, _ = fit_wyner_ziv_coding(codec, design, beta)
    coded = measure_wyner_ziv_coding(codec, test)
    unbinned = rate_without_binning(code, codec.latent_mean(codec.split(design)[0]), codec.latent_mean(x))

    bound = pair.wyner_ziv_rd
    _, gap, gap_se = _gap(per_kl, per_d[:, None], bound)
    violations: list[str] = []
    D_hi = dist.ci[1]

    def below(name: str, value_hi: float, d_hi: float) -> None:
        if value_hi < bound(d_hi):
            violations.append(f"{name} {value_hi * BITS:.4f} bits < R_WZ(D) = {bound(d_hi) * BITS:.4f} bits")

    below("E KL", rate.ci[1], D_hi)
    below("I(X;Z|Y) upper bound", mi_up.ci[1], D_hi)
    if rate.ci[1] < mi_lo.ci[0]:
        violations.append("E KL below the I(X;Z|Y) lower bound (KL >= I must hold)")
    d_op_hi = coded.distortion + Z_95 * coded.distortion_se
    below("bitstream rate", coded.rate_operational, d_op_hi)
    if not coded.decoded_exactly:
        violations.append("the bitstream did not decode to the indices the decoder resolves")
    return {
        "beta": beta,
        "distortion": D,
        "distortion_ci": list(dist.ci),
        "distortion_theory": min(beta / 2, pair.conditional_variance),
        "rate_kl": rate.value * BITS,
        "rate_kl_ci": [c * BITS for c in rate.ci],
        "mi_lower": mi_lo.value * BITS,
        "mi_lower_ci": [c * BITS for c in mi_lo.ci],
        "mi_upper": mi_up.value * BITS,
        "mi_upper_ci": [c * BITS for c in mi_up.ci],
        "bound": bound(D) * BITS,
        "rate_without_side_information": pair.rd_without_side_information(D) * BITS,
        "gap": gap * BITS,
        "gap_ci": [(gap - Z_95 * gap_se) * BITS, (gap + Z_95 * gap_se) * BITS],
        "rate_operational": coded.rate_operational * BITS,
        "rate_code": coded.rate_code * BITS,
        "rate_slepian_wolf": None if coded.rate_slepian_wolf is None else coded.rate_slepian_wolf * BITS,
        "rate_without_binning": unbinned * BITS,
        "coset_error_rate": coded.error_rate,
        "distortion_operational": coded.distortion,
        "distortion_operational_correct": coded.distortion_correct,
        "bound_operational": bound(coded.distortion) * BITS,
        "rate_without_side_information_operational": pair.rd_without_side_information(coded.distortion) * BITS,
        "gap_operational": (coded.rate_operational - bound(coded.distortion)) * BITS,
        "bin_width": code.delta,
        "modulus": code.modulus,
        "bytes": coded.n_bytes,
        "samples": len(x),
        "clipped": coded.clipped,
        "decoded_exactly": coded.decoded_exactly,
        "encoder_monotone": encoder_is_monotone(codec, x[:4096]),
        "sigma": float(codec.sigma),
        "train_seconds": train_seconds,
        "violations": violations,
    }


# ---------------------------------------------------------------- two terminals


def two_terminal_point(settings: DistributedSettings, beta: float, progress: bool = False) -> dict[str, Any]:
    """Train, code and measure one two-terminal FlowCodec at ``beta`` on D1 + D2 + beta (R1 + R2)."""
    pair = GaussianSideInformation(settings.rho)  # [x1, x2], both of unit variance
    rho = settings.rho
    seed = settings.train.seed
    torch.manual_seed(seed)
    codec, train_seconds, design, test = _trained(build_distributed_codec(settings), pair, settings, beta, progress)
    with torch.no_grad():
        _, z = codec.sample_latent(test, torch.Generator().manual_seed(seed))
        r1, r2 = (r.double() for r in codec.rates_per_sample(z))
        parts = codec.distortion_parts(test, codec.decode(z)).double()
    d1, d2 = Measurement.of(parts[:, 0]), Measurement.of(parts[:, 1])
    rate, rate1, rate2 = Measurement.of(r1 + r2), Measurement.of(r1), Measurement.of(r2)
    bound, gap, gap_se = _gap(r1 + r2, parts, lambda a, b: two_terminal_sum_rate(a, b, rho))

    # I(X1 X2; Z1 Z2) sandwiched: q(z|x) = N(f(x), sigma^2 I) on the joint latent, contrast rows from p(x1, x2)
    xs = pair.sample(settings.sandwich_samples, seed=30_000 + seed).double()
    with torch.no_grad():
        mean, zs = codec.sample_latent(xs, torch.Generator().manual_seed(seed + 1))
    K = min(settings.contrast, len(xs))
    lo_terms, up_terms = sandwich_terms(mean, zs, float(codec.sigma), K)
    mi_lo, mi_up = batch_measurement(lo_terms, K), batch_measurement(up_terms, K)

    (first, second), _ = fit_two_terminal_coding(codec, design, beta)
    coded = measure_two_terminal_coding(codec, test)
    unbinned = rate_without_binning(second, codec.latent_means(design)[1], codec.latent_means(test)[1])
    d_op = coded.distortion
    d_op_hi = [d + Z_95 * s for d, s in zip(coded.distortion, coded.distortion_se)]
    rate_op = sum(coded.rates_operational)

    violations: list[str] = []

    def below(name: str, value_hi: float, da: float, db: float) -> None:
        limit = two_terminal_sum_rate(da, db, rho)
        if value_hi < limit:
            violations.append(f"{name} {value_hi * BITS:.4f} bits < the Berger-Tung sum rate {limit * BITS:.4f} bits")

    below("E KL sum rate", rate.ci[1], d1.ci[1], d2.ci[1])
    below("I(X;Z) upper bound", mi_up.ci[1], d1.ci[1], d2.ci[1])
    if rate.ci[1] < mi_lo.ci[0]:
        violations.append("E KL below the I(X;Z) lower bound (KL >= I must hold)")
    below("bitstream sum rate", rate_op, *d_op_hi)
    if not coded.decoded_exactly:
        violations.append("the bitstreams did not decode to the indices the decoder resolves")
    bound_op = two_terminal_sum_rate(*d_op, rho)
    return {
        "beta": beta,
        "distortion": [d1.value, d2.value],
        "distortion_ci": [list(d1.ci), list(d2.ci)],
        "rate_kl": rate.value * BITS,
        "rate_kl_ci": [c * BITS for c in rate.ci],
        "rates_kl": [rate1.value * BITS, rate2.value * BITS],
        "rates_kl_ci": [[c * BITS for c in rate1.ci], [c * BITS for c in rate2.ci]],
        "mi_lower": mi_lo.value * BITS,
        "mi_lower_ci": [c * BITS for c in mi_lo.ci],
        "mi_upper": mi_up.value * BITS,
        "mi_upper_ci": [c * BITS for c in mi_up.ci],
        "bound": bound * BITS,
        "regime": two_terminal_regime(d1.value, d2.value, rho),
        "rate_centralized": centralized_gaussian_rd(d1.value, d2.value, rho) * BITS,
        "rate_separate": (gaussian_rd_without_side_information(d1.value) + gaussian_rd_without_side_information(d2.value)) * BITS,
        "gap": gap * BITS,
        "gap_ci": [(gap - Z_95 * gap_se) * BITS, (gap + Z_95 * gap_se) * BITS],
        "rate_operational": rate_op * BITS,
        "rates_operational": [r * BITS for r in coded.rates_operational],
        "rates_code": [r * BITS for r in coded.rates_code],
        "rate_without_binning": [coded.rates_code[0] * BITS, unbinned * BITS],
        "coset_error_rate": coded.error_rate,
        "distortion_operational": list(d_op),
        "bound_operational": bound_op * BITS,
        "gap_operational": (rate_op - bound_op) * BITS,
        "bin_width": [first.delta, second.delta],
        "modulus": second.modulus,
        "bytes": list(coded.n_bytes),
        "samples": len(test),
        "mi_batch": K,
        "clipped": coded.clipped,
        "decoded_exactly": coded.decoded_exactly,
        "sigma": float(codec.sigma),
        "train_seconds": train_seconds,
        "violations": violations,
    }


# ---------------------------------------------------------------- the study


def run_point(settings: DistributedSettings, beta: float, progress: bool = False) -> dict[str, Any]:
    if settings.setting == "wyner-ziv":
        return wyner_ziv_point(settings, beta, progress)
    return two_terminal_point(settings, beta, progress)


def run_study(settings: DistributedSettings, jobs: int = 1, progress: bool = True, scheduler: str | None = None) -> dict[str, Any]:
    """Every beta's point (sorted by beta) in the report layout of the issue (rates in bits); on the Dask
    cluster at ``scheduler`` if given (:func:`analysis.parallel.run_tasks`)."""
    t0 = time.perf_counter()
    points, interrupted = run_tasks(run_point, [(settings, b) for b in settings.betas], jobs, progress,
                                    desc=settings.setting, inline_extra=(False,), scheduler=scheduler)
    points = sorted(points, key=lambda p: p["beta"])
    return study_report({
        "setting": settings.setting,
        "rho": settings.rho,
        "unit": "bits",
        "runtime_s": time.perf_counter() - t0,
        "settings": asdict(settings),
        "gap_target_bits": GAP_TARGET_BITS[settings.setting],
        "interrupted": interrupted,
        "points": points,
        "violations": [f"beta={p['beta']:g}: {v}" for p in points for v in p["violations"]],
    })


def _flag(p: dict[str, Any], target: float) -> str:
    return "VIOLATION" if p["violations"] else ("ok" if p["gap"] <= target else "gap>target")


def format_table(report: dict[str, Any]) -> str:
    """One row per point: distortion, E KL, the sandwich, the bound and the gap; then the bitstream: its bits
    per sample, the Slepian-Wolf rate of its quantizer (SW), the same quantizer's index sent whole (whole),
    the modulus M, the wrong-coset rate, the decoded distortion and the bound there (bits)."""
    target = report["gap_target_bits"]
    f = format_number
    if report["setting"] == "wyner-ziv":
        head = (f"{'beta':>6} {'D':>7} {'E KL':>7} {'I(X;Z|Y) in':>17} {'R_WZ(D)':>8} {'gap':>7} {'R(D)':>7} | "
                f"{'bits':>6} {'SW':>6} {'whole':>6} {'M':>4} {'err':>7} {'D_op':>7} {'R_WZ':>6}  flag")
        rows = [
            f"{p['beta']:>6g} {f(p['distortion'])} {f(p['rate_kl'], 3):>7} "
            f"[{f(p['mi_lower'], 3)}, {f(p['mi_upper'], 3)}] {f(p['bound'], 3):>8} {f(p['gap'], 4, sign=True):>7} "
            f"{f(p['rate_without_side_information'], 3):>7} | {f(p['rate_operational'], 3):>6} "
            f"{f(p['rate_slepian_wolf'], 3):>6} {f(p['rate_without_binning'], 3):>6} {str(p['modulus'] or '-'):>4} {p['coset_error_rate']:>7.4f} "
            f"{f(p['distortion_operational'])} {f(p['bound_operational'], 3):>6}  {_flag(p, target)}"
            for p in report["points"]
        ]
    else:
        head = (f"{'beta':>6} {'D1':>7} {'D2':>7} {'R1':>6} {'R2':>6} {'sum KL':>7} {'I in':>17} {'BT':>7} "
                f"{'gap':>7} | {'bits':>6} {'err':>7} {'D1_op':>7} {'D2_op':>7} {'BT_op':>6}  flag")
        rows = [
            f"{p['beta']:>6g} {f(p['distortion'][0])} {f(p['distortion'][1])} {f(p['rates_kl'][0], 3):>6} "
            f"{f(p['rates_kl'][1], 3):>6} {f(p['rate_kl'], 3):>7} [{f(p['mi_lower'], 3)}, {f(p['mi_upper'], 3)}] "
            f"{f(p['bound'], 3):>7} {f(p['gap'], 4, sign=True):>7} | {f(p['rate_operational'], 3):>6} "
            f"{p['coset_error_rate']:>7.4f} {f(p['distortion_operational'][0])} {f(p['distortion_operational'][1])} "
            f"{f(p['bound_operational'], 3):>6}  {_flag(p, target)}"
            for p in report["points"]
        ]
    return ruled_table(head, rows)


def plot_study(report: dict[str, Any], path: str | Path) -> Path:
    """Rate against (total) distortion: the bound's curve, E KL with the sandwich, the bitstream; and
    the gaps per point."""
    import numpy as np

    pts = report["points"]
    wz = report["setting"] == "wyner-ziv"
    total = (lambda p, k="distortion": p[k]) if wz else (lambda p, k="distortion": sum(p[k]))
    colors = palette(4)
    with styled_figure(path, 1, 2, figsize=(11, 4.2)) as (fig, (ax, gx)):
        rho = report["rho"]
        if wz:
            pair = GaussianSideInformation(rho)
            grid = np.linspace(0.004, 1.0, 300)
            ax.plot(grid, [pair.wyner_ziv_rd(d) * BITS for d in grid], color="k", label=r"$R_{WZ}(D)$")
            ax.plot(grid, [pair.rd_without_side_information(d) * BITS for d in grid], "k--", lw=1,
                    label="R(D), no side information")
        else:
            grid = np.linspace(0.004, 2.0, 300)
            ax.plot(grid, [two_terminal_sum_rate(d / 2, d / 2, rho) * BITS for d in grid], color="k", lw=1,
                    label="Berger-Tung sum rate, D1 = D2")
            ax.plot(grid, [2 * gaussian_rd_without_side_information(d / 2) * BITS for d in grid], "k--", lw=1,
                    label="separate coding, D1 = D2")
            ax.plot([total(p) for p in pts], [p["bound"] for p in pts], "k+", ms=10, mew=2,
                    label="Berger-Tung sum rate at (D1, D2)")
        ax.errorbar([total(p) for p in pts], [p["rate_kl"] for p in pts], fmt="o", color=colors[0], label="E KL")
        lo = [p["mi_lower"] for p in pts]
        up = [p["mi_upper"] for p in pts]
        ax.vlines([total(p) for p in pts], lo, up, color=colors[1], lw=4, alpha=0.6, label="I sandwich")
        ax.plot([total(p, "distortion_operational") for p in pts], [p["rate_operational"] for p in pts], "s",
                color=colors[2], label="bitstream (binning)")
        bad = [p for p in pts if p["violations"]]
        if bad:
            ax.plot([total(p) for p in bad], [p["rate_kl"] for p in bad], "rx", ms=12, mew=2, label="VIOLATION")
        ax.set_xlabel("D" if wz else "D1 + D2")
        ax.set_ylabel("rate (bits per sample)" if wz else "sum rate (bits per pair)")
        ax.set_xlim(0, 1.05 * max(max(total(p) for p in pts), max(total(p, "distortion_operational") for p in pts)))
        ax.set_ylim(0, None)
        ax.set_title(f"{report['setting']}, rho = {rho:g}")
        ax.legend(fontsize=8)
        betas = [p["beta"] for p in pts]
        gx.errorbar(betas, [p["gap"] for p in pts],
                    yerr=[[p["gap"] - p["gap_ci"][0] for p in pts], [p["gap_ci"][1] - p["gap"] for p in pts]],
                    fmt="o", color=colors[0], label="E KL - bound")
        gx.plot(betas, [p["gap_operational"] for p in pts], "s", color=colors[2], label="bitstream - bound")
        gx.axhline(report["gap_target_bits"], color="grey", ls=":", label="target")
        gx.axhline(0, color="k", lw=0.8)
        gx.set_xscale("log")
        gx.set_yscale("symlog", linthresh=0.01)
        highest = max([p["gap_ci"][1] for p in pts] + [p["gap_operational"] for p in pts] + [report["gap_target_bits"]])
        lowest = min([p["gap_ci"][0] for p in pts] + [p["gap_operational"] for p in pts] + [-0.01])
        gx.set_ylim(1.5 * lowest, 2 * highest)
        gx.set_xlabel("beta")
        gx.set_ylabel("gap (bits)")
        gx.legend(fontsize=8)
    return Path(path)


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", choices=SETTINGS, default="wyner-ziv")
    p.add_argument("--codec", default=None, metavar="NAME",
                   help="the codec: a registered name or package.module:attribute, a subclass of the setting's codec "
                   "(default: flowcodec-wyner-ziv / flowcodec-two-terminal)")
    p.add_argument("--rho", type=float, default=0.9, help="correlation of the pair, in (-1, 1)")
    p.add_argument("--betas", type=float, nargs="+", default=list(DEFAULT_BETAS))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-samples", type=int, default=2**17)
    p.add_argument("--design-samples", type=int, default=2**15)
    p.add_argument("--sandwich-samples", type=int, default=2**14)
    p.add_argument("--contrast", type=int, default=256, help="K of the sandwich (K - 1 contrast draws per row)")
    p.add_argument("--depth", type=int, default=1)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--jobs", type=int, default=1)
    add_scheduler_argument(p)
    p.add_argument("--json", nargs="?", const="", default=None, metavar="PATH")
    p.add_argument("--plot", nargs="?", const="", default=None, metavar="PATH")
    p.add_argument("--no-progress", action="store_true")
    return p


def _settings(args: argparse.Namespace) -> DistributedSettings:
    rho = _check_rho(args.rho)
    bad = [b for b in args.betas if not (math.isfinite(b) and b > 0)]
    if bad:
        raise ValueError(f"--betas must be finite and > 0, got {bad}")
    for name, value, low in (("--steps", args.steps, 1), ("--batch-size", args.batch_size, 2),
                             ("--eval-samples", args.eval_samples, 64), ("--design-samples", args.design_samples, 64),
                             ("--sandwich-samples", args.sandwich_samples, 2), ("--contrast", args.contrast, 2),
                             ("--depth", args.depth, 1), ("--hidden", args.hidden, 1), ("--jobs", args.jobs, 1)):
        require_at_least(name, value, low)
    require_seed("--seed", args.seed)
    if args.scheduler is not None:
        check_scheduler(args.scheduler)
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise ValueError(f"--lr must be finite and > 0, got {args.lr}")
    settings = DistributedSettings(
        setting=args.setting, rho=rho, betas=sorted(set(args.betas)),
        train=TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, schedule="cosine", seed=args.seed),
        eval_samples=args.eval_samples, design_samples=args.design_samples, sandwich_samples=args.sandwich_samples,
        contrast=args.contrast, depth=args.depth, hidden=args.hidden, codec=args.codec,
    )
    try:
        build_distributed_codec(settings)  # an unknown or unfit --codec is refused before any training
    except (LookupError, TypeError) as e:
        raise ValueError(f"--codec: {e}") from None
    return settings


def default_path(settings: DistributedSettings, suffix: str) -> Path:
    return Path("results") / f"distributed_{settings.setting}_rho{settings.rho:g}.{suffix}"


def _output_paths(args: argparse.Namespace, settings: DistributedSettings) -> dict[str, Path | str | None]:
    def resolved(value: str | None, suffix: str) -> Path | str | None:
        return default_path(settings, suffix) if value == "" else value

    return {"--json": resolved(args.json, "json"), "--plot": resolved(args.plot, "png")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study; exit 0, 1 on a violation, 2 on bad arguments."""
    args, settings = parse_study_args(build_parser(), argv, _settings, output_paths=_output_paths)
    report = run_study(settings, jobs=args.jobs, progress=not args.no_progress, scheduler=args.scheduler)
    print(f"\n{settings.setting}: jointly Gaussian pair, unit variances, rho = {settings.rho:g}. Rates in bits per "
          f"sample{' (sum over both encoders)' if settings.setting == 'two-terminal' else ''}; "
          f"target gap {report['gap_target_bits']:g} bit.")
    print(format_table(report))
    print(f"\ntotal {report['runtime_s']:.1f} s ({torch.get_num_threads()} thread(s))")
    for v in report["violations"]:
        print(f"VIOLATION {v}", file=sys.stderr)
    if args.json is not None:
        print(f"wrote {write_report(args.json or default_path(settings, 'json'), report)}")
    if args.plot is not None:
        print(f"wrote {plot_study(report, args.plot or default_path(settings, 'png'))}")
    if report["interrupted"]:
        print("interrupted: the finished points are above", file=sys.stderr)
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
