"""python -m analysis.jscc: a JSCC codec trained at one SNR vs OPTA and the separation cliff (FlowCodec bitstream)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from contracts.interface import Channel
from contracts.options import add_option_flags, make_options
from contracts.stats import Z_95
from ibflow import CHANNELS, TrainConfig, TrainingDiverged, get_channel
from ibflow.channel import (
    awgn_capacity,
    db_to_linear,
    linear_to_db,
    JSCCCodec,
    JSCCEvaluation,
    adapt_decoder,
    block_lengths,
    block_sampler,
    evaluate_jscc,
    linear_distortion,
    opta_distortion,
    SeparationCodec,
    separation_distortion,
    train_jscc,
    train_separation_codec,
)
from synthetic import SOURCES, GaussianSource, get_source
from analysis.cli import (
    json_object, parse_study_args, part_listing, part_options, require_at_least, require_positive, require_seed,
)
from analysis.plots import palette, styled_figure
from analysis.report import format_number, ruled_table, study_report, write_report

__all__ = [
    "build_parser", "main", "JSCCSettings", "run_study", "point_violations", "format_table", "plot_jscc",
    "default_path", "separation_codec_report", "channel_options", "checked_source", "checked_channel",
]

SNR_DB_RANGE = (-30.0, 60.0)
SEPARATION_OVERHEAD_NATS = 64 * math.log(2)  # ANS's final state and last word, per test stream
SEPARATION_MODEL = (
    "a capacity-achieving channel code of rate R = rho * C(design SNR) nats per source sample, C = 1/2 log(1 + SNR), "
    "decoded without error at SNR >= design SNR, complete failure (D = s^2, 0 dB) below. separation_db: the source "
    "code is a FlowCodec trained on the source whose real ANS bitstream (bytes counted, decoded exactly) is at most R "
    "(separation_codec: its beta, rate and measured distortion on fresh test samples); separation_ideal_db: the ideal "
    "Gaussian source code, D(R) = s^2 exp(-2R)"
)
GAUSSIAN_ONLY = (
    "the study needs a scalar Gaussian source built from --variance (dim 1; a block of its samples are the i.i.d. "
    "components), because the bound it reports is the Gaussian OPTA D = s^2/(1+SNR)^rho and its separation and "
    "linear baselines are the Gaussian ones"
)
CHANNEL_CONTRACT = (
    "a class or factory (snr_db, **options) building a contracts.Channel: attributes snr_db and signal_power (the "
    "power constraint P the codec is held to), called as channel(symbols (n, k), generator) -> an output with .y "
    "(n, k) and .state (None, or (n, k) channel state known at the receiver), and "
    "distortion_ratio_lower_bound(n_source, n_channel), the converse for an i.i.d. Gaussian source; it must survive "
    "copy.deepcopy (the receiver is re-trained on a copy of the codec) and is rebuilt at each test SNR"
)
ANALOG_REFERENCES = (
    "No published analog-mapping figure is quoted (none that we could check): for 2:1 compression (rho = 1/2) "
    "see the Archimedean spiral mappings of Chung (MIT PhD thesis, 2000) and Hekland, Floor & Ramstad, "
    "'Shannon-Kotel'nikov mappings in joint source-channel coding', IEEE Trans. Commun., 2009, and the references "
    "there for 1:2 expansion (rho = 2). 'linear_db' is the best linear (uncoded) scheme, computed exactly "
    "(ibflow.channel.linear_distortion)."
)


@dataclass
class JSCCSettings:
    """Everything one study needs (JSON-friendly)."""

    variance: float = 1.0
    rho: float = 1.0
    snr_db: list[float] = field(default_factory=lambda: [0.0, 5.0, 10.0, 15.0, 20.0])
    design_snr_db: float = 10.0
    source: str = "gaussian"
    channel: str = "awgn"
    channel_params: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=2000, lr=5e-3, schedule="constant"))
    adapt_steps: int = 300
    depth: int = 2
    hidden: int = 64
    decoder_hidden: int = 128
    decoder_depth: int = 3
    power_mode: str = "average"
    init_noise: float = 0.0
    lift: str = "mlp"
    eval_samples: int = 2**18
    adapt: bool = True
    separation_steps: int = 800
    separation_rounds: int = 3


def default_path(rho: float, channel: str, suffix: str) -> Path:
    """benchmarks/results/jscc_rho{rho}[_{channel}].{suffix}, relative to the working directory."""
    tag = "" if channel == "awgn" else f"_{channel}"
    return Path("benchmarks") / "results" / f"jscc_rho{rho:g}{tag}.{suffix}"


def point_violations(name: str, ev: JSCCEvaluation, bound: float, power: float, snr_db: float) -> list[str]:
    """What is impossible about a measurement: distortion below the converse ``bound`` beyond its 95 %
    confidence interval (from the standard error of the per-block squared error over the test blocks),
    or transmitted power above the constraint ``power`` beyond its own 95 % interval. Either is a bug."""
    found = []
    if ev.distortion_ci[1] < bound:
        found.append(f"{name}: D = {ev.distortion:.6g} (95% CI upper {ev.distortion_ci[1]:.6g}) is below the bound "
                     f"{bound:.6g} at SNR {snr_db:g} dB")
    if ev.power - Z_95 * ev.power_se > power:
        found.append(f"{name}: transmitted power {ev.power:.5f} +- {Z_95 * ev.power_se:.5f} exceeds the constraint "
                     f"{power:g} at SNR {snr_db:g} dB")
    return found


def _db_ci(lo: float, hi: float, variance: float) -> list[float | None]:
    return [linear_to_db(lo / variance) if lo > 0 else None, linear_to_db(hi / variance)]


def separation_codec_report(
    settings: JSCCSettings, source: Any, variance: float, progress: bool = False
) -> dict[str, Any]:
    """Train the separation baseline's source code (:func:`ibflow.channel.train_separation_codec`): a
    FlowCodec whose real bitstream fits a channel code of rho C(design SNR) nats per sample, measured on
    ``settings.eval_samples`` fresh samples. Rates in bits per sample, distortion in dB re the variance;
    ``violations`` lists what is impossible (a rate below R(D) at the measured distortion beyond its CI,
    a bitstream over the limit or not decoded exactly)."""
    rate_limit = settings.rho * awgn_capacity(db_to_linear(settings.design_snr_db))
    cfg = TrainConfig(steps=settings.separation_steps, batch_size=settings.train.batch_size, seed=settings.train.seed)
    sep: SeparationCodec = train_separation_codec(
        lambda n, seed: source.sample(n, seed=seed), variance, rate_limit, cfg, max_rounds=settings.separation_rounds,
        n_design=settings.eval_samples, n_test=settings.eval_samples, seed=settings.train.seed, progress=progress,
    )
    bits = 1.0 / math.log(2)
    ideal = variance * math.exp(-2.0 * rate_limit)
    shannon = variance * math.exp(-2.0 * sep.rate)  # D(R) at the rate actually spent: nothing does better
    violations = []
    if not sep.decoded_exactly:
        violations.append("separation codec: the bitstream did not decode to the encoded symbols")
    if sep.rate > rate_limit:
        violations.append(f"separation codec: bitstream {sep.rate * bits:.5f} bits per sample exceeds the channel "
                          f"code's {rate_limit * bits:.5f}")
    if sep.distortion_ci[1] < shannon:
        violations.append(f"separation codec: D = {sep.distortion:.6g} (95% CI upper {sep.distortion_ci[1]:.6g}) is "
                          f"below D(R) = {shannon:.6g} at its own rate {sep.rate * bits:.5f} bits")
    d_db = linear_to_db(sep.distortion / variance)
    return {
        "beta": sep.beta,
        "rate_bits": sep.rate * bits,
        "rate_limit_bits": rate_limit * bits,
        "distortion_db": d_db,
        "distortion_db_ci": _db_ci(*sep.distortion_ci, variance),
        "distortion": sep.distortion,
        "distortion_se": sep.distortion_se,
        "distortion_ideal_db": linear_to_db(ideal / variance),
        "loss_db": d_db - linear_to_db(ideal / variance),
        "rd_at_rate_db": linear_to_db(shannon / variance),
        "bin_width": sep.bin_width,
        "decoded_exactly": sep.decoded_exactly,
        "n_bytes": sep.n_bytes,
        "n_test": sep.n_test,
        "train_steps": settings.separation_steps,
        "train_seconds": sep.train_seconds,
        "rounds": [
            {"beta": r["beta"], "rate_matched_bits": r["rate_matched"] * bits, "bin_width": r["bin_width"],
             "rate_bits": r["rate"] * bits, "distortion_db": linear_to_db(r["distortion"] / variance)}
            for r in sep.rounds
        ],
        "note": "rate_bits: bytes of the ANS stream of the test samples * 8 / n; distortion from the decoded symbols, "
        "95% CI from the standard error over the test samples; beta and bin width were chosen on separate design "
        "samples (rounds: design-set numbers); loss_db = distortion_db - distortion_ideal_db",
        "violations": violations,
    }


def run_study(settings: JSCCSettings, progress: bool = True) -> dict[str, Any]:
    """Train at the design SNR, then at every test SNR measure the codec with its design decoder and
    with a decoder re-trained for that SNR; compare with the bound (OPTA on AWGN), separation (on AWGN: a
    FlowCodec bitstream over an ideal channel code, :func:`separation_codec_report`, and the ideal Gaussian
    source code) and the best linear scheme."""
    torch.set_num_threads(1)  # the rest of the project runs one thread per process (see analysis.rd_gap)
    start = time.perf_counter()
    source = get_source(settings.source, variance=settings.variance)
    s2 = float(np.sum(source.variance()))
    n_src, n_ch = block_lengths(settings.rho)
    sample_blocks = block_sampler(lambda n, seed: source.sample(n, seed=seed), n_src)
    design = get_channel(settings.channel, settings.design_snr_db, **settings.channel_params)
    torch.manual_seed(settings.train.seed)
    codec = JSCCCodec(
        n_src * source.dim, n_ch, design, samples_per_block=n_src, depth=settings.depth, hidden=settings.hidden,
        decoder_hidden=settings.decoder_hidden, decoder_depth=settings.decoder_depth,
        power=design.signal_power,  # the constraint the channel's SNR is defined by: SNR = P / N
        power_mode=settings.power_mode, init_noise=settings.init_noise, lift=settings.lift,
    )
    result = train_jscc(codec, sample_blocks, settings.train, progress=progress)
    train_seconds = result.seconds
    n_blocks = max(2, settings.eval_samples // n_src)
    is_awgn = settings.channel == "awgn"
    sep = separation_codec_report(settings, source, s2, progress) if is_awgn else None
    sep_violations = sep.pop("violations") if sep is not None else []
    points: list[dict[str, Any]] = []
    bar = tqdm(settings.snr_db, desc="test SNRs", disable=not progress, leave=False)
    for i, snr_db in enumerate(bar):
        # rebuilt from its spec, so that a user's channel needs only the contracts.Channel protocol (no with_snr)
        channel = get_channel(settings.channel, snr_db, **settings.channel_params)
        seed = settings.train.seed * 1_000 + 17 + i  # fresh test data and noise, never seen in training
        fixed = evaluate_jscc(codec, sample_blocks, n_blocks, seed, channel=channel)
        t0 = time.perf_counter()
        if settings.adapt:
            cfg = TrainConfig(steps=settings.adapt_steps, batch_size=settings.train.batch_size,
                              lr=settings.train.lr / 4, seed=settings.train.seed + 1 + i)
            adapted = adapt_decoder(codec, channel, sample_blocks, cfg)
            ev = evaluate_jscc(adapted, sample_blocks, n_blocks, seed)
        else:
            ev = fixed
        adapt_seconds = time.perf_counter() - t0
        snr = db_to_linear(snr_db)
        bound = s2 * channel.distortion_ratio_lower_bound(n_src * source.dim, n_ch)
        opta_db = linear_to_db(bound / s2)
        design_snr = db_to_linear(settings.design_snr_db)
        sep_db = sep_ideal_db = None
        if sep is not None:
            sep_db = linear_to_db(separation_distortion(s2, snr, design_snr, settings.rho, sep["distortion"]) / s2)
            sep_ideal_db = linear_to_db(separation_distortion(s2, snr, design_snr, settings.rho) / s2)
        d_db = linear_to_db(ev.distortion / s2)
        violations = point_violations("re-trained decoder", ev, bound, design.signal_power, snr_db)
        if settings.adapt:
            violations += point_violations("design decoder", fixed, bound, design.signal_power, snr_db)
        points.append({
            "snr_db": snr_db,
            "distortion_db": d_db,
            "distortion_db_ci": _db_ci(*ev.distortion_ci, s2),
            "opta_db": opta_db,
            "separation_db": sep_db,
            "separation_ideal_db": sep_ideal_db,
            "gap_db": d_db - opta_db,
            "distortion": ev.distortion,
            "distortion_se": ev.distortion_se,
            "distortion_fixed_decoder_db": linear_to_db(fixed.distortion / s2),
            "distortion_fixed_decoder_db_ci": _db_ci(*fixed.distortion_ci, s2),
            "linear_db": linear_to_db(linear_distortion(s2, snr, settings.rho) / s2) if is_awgn else None,
            "power": ev.power,
            "power_se": ev.power_se,
            "violation": bool(violations),
            "violations": violations,
            "adapt_seconds": adapt_seconds,
        })
        bar.set_postfix(snr=f"{snr_db:g}", gap=f"{d_db - opta_db:.3f} dB")
    bar.close()
    return study_report({
        "source": settings.source,
        "params": source.params(),
        "rho": settings.rho,
        "design_snr_db": settings.design_snr_db,
        "unit": "dB",
        "distortion_reference": "10*log10(D / variance), D = squared error per source sample",
        "channel": settings.channel,
        "channel_params": settings.channel_params,
        "bound": "OPTA, D = s^2 / (1 + SNR)^rho" if is_awgn
        else f"converse lower bound of the {settings.channel} channel",
        "n_source": n_src,
        "n_channel": n_ch,
        "receiver": "distortion_db: transmitter fixed at the design SNR, decoder re-trained at each test SNR (CSIR); "
        "distortion_fixed_decoder_db: the design decoder everywhere" if settings.adapt else
        "design decoder at every test SNR (--no-adapt)",
        "ci": "95% normal interval from the standard error of the per-block squared error over the test blocks",
        "separation": SEPARATION_MODEL if is_awgn else None,
        "separation_codec": sep,
        "analog_references": ANALOG_REFERENCES,
        "n_eval_blocks": n_blocks,
        "train_seconds": train_seconds,
        "runtime_s": time.perf_counter() - start,
        "settings": asdict(settings),
        "violations": sep_violations + [v for p in points for v in p["violations"]],
        "points": points,
    })


def _f(v: float | None, digits: int = 2) -> str:
    return format_number(v, digits)


def format_table(report: dict[str, Any]) -> str:
    """The table printed by the CLI: distortion in dB relative to the source variance."""
    head = (f"{'SNR dB':>7} {'JSCC D dB [95% CI]':>24} {'design dec':>10} {'OPTA':>8} {'separation':>10} "
            f"{'sep ideal':>9} {'linear':>8} {'gap dB':>7}  flag")
    lines = []
    for p in report["points"]:
        lo, hi = p["distortion_db_ci"]
        ci = f"{p['distortion_db']:.3f} [{_f(lo, 3)}, {_f(hi, 3)}]"
        lines.append(
            f"{p['snr_db']:>7g} {ci:>24} {p['distortion_fixed_decoder_db']:>10.3f} {p['opta_db']:>8.3f} "
            f"{_f(p['separation_db'], 3):>10} {_f(p.get('separation_ideal_db'), 3):>9} {_f(p['linear_db'], 3):>8} "
            f"{p['gap_db']:>7.3f}  "
            f"{'VIOLATION' if p['violation'] else 'ok'}"
        )
    sep = report.get("separation_codec")
    if sep is not None:
        lo, hi = sep["distortion_db_ci"]
        lines.append(
            f"separation: FlowCodec (beta {sep['beta']:.4g}) bitstream {sep['rate_bits']:.4f} bits/sample <= rho C = "
            f"{sep['rate_limit_bits']:.4f}, D = {sep['distortion_db']:.3f} dB [{_f(lo, 3)}, {_f(hi, 3)}] above the "
            f"design SNR (ideal Gaussian code {sep['distortion_ideal_db']:.3f} dB, loss {sep['loss_db']:.3f} dB), "
            "0 dB below"
        )
    return ruled_table(head, lines)


def plot_jscc(report: dict[str, Any], path: str | Path) -> None:
    """Distortion (dB) against test SNR: OPTA (or the channel's bound), the separation cliff with the
    FlowCodec bitstream (its 95 % CI shaded) and with the ideal Gaussian source code, the best linear
    scheme, and the JSCC codec with a re-trained and with its design decoder."""
    pal = palette()
    pts = report["points"]
    rho, design_db, awgn = report["rho"], report["design_snr_db"], report["channel"] == "awgn"
    snrs = np.array([p["snr_db"] for p in pts])
    lo_db, hi_db = min(snrs.min(), design_db) - 2, max(snrs.max(), design_db) + 2
    grid = np.linspace(lo_db, hi_db, 400)
    with styled_figure(path, figsize=(6.4, 4.4)) as (_, ax):
        if awgn:
            ax.plot(grid, [linear_to_db(opta_distortion(1.0, db_to_linear(g), rho)) for g in grid], color="black", lw=1.5,
                    label=r"OPTA $D=\sigma^2/(1+\mathrm{SNR})^\rho$")
            sep_ideal = [linear_to_db(separation_distortion(1.0, db_to_linear(g), db_to_linear(design_db), rho))
                         for g in grid]
            ax.plot(grid, sep_ideal, color=pal[3], lw=1, ls="--",
                    label=f"separation, ideal source + channel code for {design_db:g} dB")
            codec = report.get("separation_codec")
            if codec is not None:
                d_sep = db_to_linear(codec["distortion_db"])
                sep = [linear_to_db(separation_distortion(1.0, db_to_linear(g), db_to_linear(design_db), rho, d_sep))
                       for g in grid]
                ax.plot(grid, sep, color=pal[3], lw=1.8,
                        label=f"separation, FlowCodec bitstream ({codec['rate_bits']:.2f} bits) + ideal channel code")
                lo, hi = codec["distortion_db_ci"]
                above = grid >= design_db
                ax.fill_between(grid[above], lo if lo is not None else codec["distortion_db"], hi, color=pal[3], alpha=0.25,
                                lw=0)
            ax.plot(grid, [linear_to_db(linear_distortion(1.0, db_to_linear(g), rho)) for g in grid], color="0.5", lw=1,
                    ls=":", label="best linear (uncoded)")
        else:
            ax.plot(snrs, [p["opta_db"] for p in pts], color="black", lw=1.5, marker=".", label="lower bound (converse)")
        d = np.array([p["distortion_db"] for p in pts])
        err = np.array([[p["distortion_db"] - (p["distortion_db_ci"][0] if p["distortion_db_ci"][0] is not None
                                               else p["distortion_db"]), p["distortion_db_ci"][1] - p["distortion_db"]]
                        for p in pts]).T
        ax.errorbar(snrs, d, yerr=err, fmt="o-", color=pal[0], ms=5, capsize=3, label="JSCC, decoder re-trained (95% CI)")
        ax.plot(snrs, [p["distortion_fixed_decoder_db"] for p in pts], "s--", mfc="none", color=pal[2], ms=6,
                label="JSCC, design decoder")
        bad = [p for p in pts if p["violation"]]
        if bad:
            ax.plot([p["snr_db"] for p in bad], [p["distortion_db"] for p in bad], "rx", ms=12, mew=2, label="VIOLATION")
        ax.axvline(design_db, color="0.3", lw=0.8, ls="-.")
        ax.annotate("design SNR", (design_db, ax.get_ylim()[1]), textcoords="offset points", xytext=(3, -12), fontsize=8)
        ax.set_xlabel("channel SNR (dB)")
        ax.set_ylabel(r"distortion $10\log_{10}(D/\sigma^2)$ (dB)")
        ax.set_title(f"JSCC, Gaussian source, {report['channel'].upper()}, rho = {rho:g}")
        ax.legend(fontsize=8, loc="lower left")


def _parser_and_flags() -> tuple[argparse.ArgumentParser, dict[str, list[str]]]:
    """The parser, and the channel-option flags it took from the channels' options dataclasses
    (option name -> the channels that take it)."""
    channels = list(CHANNELS)
    p = argparse.ArgumentParser(
        prog="python -m analysis.jscc",
        description="Train an analog joint source-channel codec (flow encoder, channel-aware flow, power "
        "constraint, learned decoder) at a design SNR and compare it over test SNRs with OPTA, separate "
        "source-channel coding designed for that SNR (the cliff) and the best linear scheme. Distortion in dB "
        "relative to the source variance.",
    )
    src = p.add_argument_group("source and channel")
    src.add_argument("--source", default="gaussian", metavar="SOURCE",
                     help="the source, a name of synthetic.SOURCES or package.module:attribute (default gaussian); "
                     f"{GAUSSIAN_ONLY}, so any other is refused")
    src.add_argument("--variance", type=float, default=1.0, help="source variance (> 0, default 1)")
    src.add_argument("--rho", type=float, default=1.0,
                     help="channel uses per source sample (> 0, a ratio p/q with q <= 16; e.g. 0.5, 1, 2)")
    src.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 5.0, 10.0, 15.0, 20.0],
                     help=f"test SNRs in dB, at least one, each in [{SNR_DB_RANGE[0]:g}, {SNR_DB_RANGE[1]:g}] "
                     "(default 0 5 10 15 20)")
    src.add_argument("--design-snr-db", type=float, default=10.0,
                     help="SNR the codec is trained at and the separation baseline is designed for (default 10)")
    src.add_argument("--channel", default="awgn", metavar="CHANNEL",
                     help=f"the channel (default awgn): {part_listing(channels)}; or package.module:attribute, "
                     f"{CHANNEL_CONTRACT}. Separation and the linear scheme are computed for awgn only")
    src.add_argument("--channel-options", type=json_object, default=None, metavar="JSON",
                     help="the channel's options (after snr_db) as a JSON object (any channel; a path channel's only "
                     "way to get options)")
    cod = p.add_argument_group("codec and training")
    cod.add_argument("--steps", type=int, default=None, help="training steps (default 2000; --quick 200)")
    cod.add_argument("--adapt-steps", type=int, default=None,
                     help="decoder re-training steps per test SNR (default 300; --quick 60)")
    cod.add_argument("--no-adapt", action="store_true", help="keep the design decoder at every test SNR")
    cod.add_argument("--batch-size", type=int, default=2048)
    cod.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (decoder re-training: lr / 4)")
    cod.add_argument("--seed", type=int, default=0)
    cod.add_argument("--depth", type=int, default=2, help="blocks of the source flow and of the channel flow")
    cod.add_argument("--hidden", type=int, default=64, help="width of the flows' coupling networks and the lift MLP")
    cod.add_argument("--decoder-hidden", type=int, default=128)
    cod.add_argument("--decoder-depth", type=int, default=3)
    cod.add_argument("--lift", choices=["mlp", "tile"], default="mlp",
                     help="rho > 1: widen the latent by an MLP graph (default) or by repetition (a linear start)")
    cod.add_argument("--power-mode", choices=["average", "block"], default="average",
                     help="average power over the code book (default) or exact power per codeword")
    cod.add_argument("--init-noise", type=float, default=0.0,
                     help="std of noise on the channel flow's initial weights (0: start from the linear map)")
    cod.add_argument("--separation-steps", type=int, default=None,
                     help="training steps of the separation baseline's FlowCodec, per round (default 800; --quick 200)")
    cod.add_argument("--separation-rounds", type=int, default=3,
                     help="at most this many trainings of that FlowCodec while beta is matched to the rate (default 3)")
    out = p.add_argument_group("evaluation and output")
    out.add_argument("--eval-samples", type=int, default=None, help="test source samples (default 2^18; --quick 2^14; on awgn at least 2 * 64 ln 2 / (rho C(design SNR)), "
                     "75 at 10 dB)")
    out.add_argument("--json", nargs="?", const="", default=None, metavar="PATH",
                     help="write the numbers as JSON; without PATH to benchmarks/results/jscc_rho{rho}.json")
    out.add_argument("--plot", nargs="?", const="", default=None, metavar="PATH",
                     help="write the figure; without PATH to benchmarks/results/jscc_rho{rho}.png")
    out.add_argument("--quick", action="store_true", help="small settings for a smoke run")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    opt = p.add_argument_group("channel options", "each flag applies to the channels its help names; the channel's "
                               "own default otherwise")
    flags = add_option_flags(opt, {e.name: e.options for e in channels})
    return p, flags


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of the study; its channels and their flags come from :data:`ibflow.CHANNELS`."""
    return _parser_and_flags()[0]


def channel_options(args: argparse.Namespace, flags: dict[str, list[str]]) -> dict[str, Any]:
    """The chosen channel's options from its flags and ``--channel-options``; ValueError (exit 2) for an
    unknown channel, a flag the channel does not take, or an option given both ways."""
    return part_options(args, CHANNELS, args.channel, flags, args.channel_options, "--channel", "--channel-options")


def checked_channel(spec: str, snr_db: float, options: dict[str, Any]) -> dict[str, Any]:
    """Build the channel ``spec`` at ``snr_db`` with ``options`` and check it against the
    :class:`contracts.Channel` protocol; returns the options it was built with (a registered channel's
    defaults filled in, so the report says e.g. which erasure probability was used)."""
    entry = CHANNELS.get(spec)
    try:
        channel = get_channel(spec, snr_db, **options)
    except (ValueError, TypeError) as e:
        given = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items())
        # a TypeError: what the path names is not a constructor taking (snr_db, **options)
        hint = " (expected a class or factory (snr_db, **options) building a contracts.Channel)" if isinstance(e, TypeError) else ""
        raise ValueError(f"--channel {spec}{' ' + given if given else ''}: {e}{hint}") from None
    if not isinstance(channel, Channel):
        raise ValueError(f"--channel {spec}: built a {type(channel).__name__}, not a contracts.Channel ({CHANNEL_CONTRACT})")
    if entry.options is None:
        return dict(options)
    built = make_options(entry.options, options, owner=f"channel {entry.name!r}")
    return asdict(built)


def checked_source(spec: str, variance: float) -> Any:
    """Build the source ``spec`` with ``variance`` and refuse it unless it is a scalar Gaussian
    (:class:`synthetic.GaussianSource` of dim 1): the only source the study's bounds hold for."""
    try:
        SOURCES.get(spec)
        source = get_source(spec, variance=variance)
    except (ValueError, TypeError) as e:
        raise ValueError(f"--source {spec}: {GAUSSIAN_ONLY}; it cannot be built that way ({e})") from None
    if not isinstance(source, GaussianSource) or source.dim != 1:
        kind = f"a {type(source).__name__} of dim {source.dim}"
        raise ValueError(f"--source {spec}: {GAUSSIAN_ONLY}; it builds {kind}")
    return source


def _settings(args: argparse.Namespace, flags: dict[str, list[str]]) -> JSCCSettings:
    if not (math.isfinite(args.variance) and args.variance > 0):
        raise ValueError(f"--variance must be finite and > 0, got {args.variance}")
    if not (math.isfinite(args.rho) and args.rho > 0):
        raise ValueError(f"--rho must be finite and > 0 (channel uses per source sample), got {args.rho}")
    try:
        block_lengths(args.rho)
    except ValueError as e:
        raise ValueError(f"--rho: {e}") from None
    if not args.snr_db:
        raise ValueError("--snr-db needs at least one SNR")
    lo, hi = SNR_DB_RANGE
    for name, values in (("--snr-db", args.snr_db), ("--design-snr-db", [args.design_snr_db])):
        bad = [v for v in values if not (math.isfinite(v) and lo <= v <= hi)]
        if bad:
            raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}] dB, got {bad}")
    steps = args.steps if args.steps is not None else (200 if args.quick else 2000)
    adapt_steps = args.adapt_steps if args.adapt_steps is not None else (60 if args.quick else 300)
    n_eval = args.eval_samples if args.eval_samples is not None else (2**14 if args.quick else 2**18)
    sep_steps = args.separation_steps if args.separation_steps is not None else (200 if args.quick else 800)
    for name, value, low in (("--steps", steps, 1), ("--adapt-steps", adapt_steps, 1),
                             ("--separation-steps", sep_steps, 1), ("--separation-rounds", args.separation_rounds, 1),
                             ("--batch-size", args.batch_size, 2), ("--eval-samples", n_eval, 4),
                             ("--depth", args.depth, 1), ("--hidden", args.hidden, 1),
                             ("--decoder-hidden", args.decoder_hidden, 1), ("--decoder-depth", args.decoder_depth, 0)):
        require_at_least(name, value, low)
    require_seed("--seed", args.seed)
    if args.channel == "awgn":
        # The separation baseline's bitstream must fit rho C(design SNR) nats per sample after the coder's
        # fixed 64-bit overhead and a margin of 3 sqrt(2) standard errors of the code length
        # (ibflow.channel.train_separation_codec); with the overhead alone at the limit (n = 38 at 10 dB)
        # the margin leaves nothing and the bin fit fails after training. The margin's size is known only
        # after training, so the overhead is held to half the limit: n >= 2 * 64 ln 2 / (rho C).
        rate_limit = args.rho * awgn_capacity(db_to_linear(args.design_snr_db))
        least = math.ceil(2 * SEPARATION_OVERHEAD_NATS / rate_limit)
        require_at_least("--eval-samples", n_eval, least,
                         f"the separation baseline's 64-bit ANS overhead per test stream may use at most half of "
                         f"rho C = {rate_limit:.4g} nats per sample at --design-snr-db {args.design_snr_db:g}")
    require_positive("--lr", args.lr)
    if not (math.isfinite(args.init_noise) and args.init_noise >= 0):
        raise ValueError(f"--init-noise must be finite and >= 0, got {args.init_noise}")
    checked_source(args.source, args.variance)
    params = checked_channel(args.channel, args.design_snr_db, channel_options(args, flags))
    return JSCCSettings(
        variance=args.variance, rho=args.rho, snr_db=list(args.snr_db), design_snr_db=args.design_snr_db,
        source=args.source, channel=args.channel, channel_params=params,
        train=TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr, schedule="constant", seed=args.seed),
        adapt_steps=adapt_steps, depth=args.depth, hidden=args.hidden, decoder_hidden=args.decoder_hidden,
        decoder_depth=args.decoder_depth, power_mode=args.power_mode, init_noise=args.init_noise, lift=args.lift,
        eval_samples=n_eval, adapt=not args.no_adapt, separation_steps=sep_steps,
        separation_rounds=args.separation_rounds,
    )


def _output_paths(args: argparse.Namespace, settings: JSCCSettings) -> dict[str, Path | str | None]:
    """The files the study will write (a flag given without PATH writes to :func:`default_path`)."""
    def resolved(value: str | None, suffix: str) -> Path | str | None:
        return default_path(settings.rho, settings.channel, suffix) if value == "" else value

    return {"--json": resolved(args.json, "json"), "--plot": resolved(args.plot, "png")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the study; exit status 0, 1 if a point beats the bound beyond its CI or training diverged,
    2 on bad arguments."""
    parser, flags = _parser_and_flags()
    args, settings = parse_study_args(parser, argv, lambda a: _settings(a, flags), output_paths=_output_paths)
    try:
        report = run_study(settings, progress=not args.no_progress)
    except TrainingDiverged as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print(f"\nJSCC: {settings.source} source, variance {settings.variance:g}, {settings.channel} channel "
          f"{settings.channel_params or ''}, rho = {settings.rho:g} ({report['n_channel']} channel uses per "
          f"{report['n_source']} samples), trained at {settings.design_snr_db:g} dB. Distortion in dB re the variance.")
    print(format_table(report))
    print(f"\ntraining {report['train_seconds']:.1f} s, total {report['runtime_s']:.1f} s "
          f"({torch.get_num_threads()} thread)")
    for v in report["violations"]:
        print(f"VIOLATION: {v}", file=sys.stderr)
    if report["violations"]:
        print(f"WARNING: {len(report['violations'])} violation(s): distortion below the bound or power above the "
              "constraint, beyond the confidence interval. This is a bug, not a result.", file=sys.stderr)
    if args.json is not None:
        path = write_report(args.json or default_path(settings.rho, settings.channel, "json"), report)
        print(f"wrote {path}")
    if args.plot is not None:
        path = Path(args.plot or default_path(settings.rho, settings.channel, "png"))
        plot_jscc(report, path)
        print(f"wrote {path}")
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
