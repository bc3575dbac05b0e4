"""Benchmark of analysis.codec_compare: every codec against R(D) on each source, and the issue's targets.

Run from the repository root:  python benchmarks/bench_codec_compare.py [--only gaussian ...]
Writes benchmarks/results/codec_compare_<source>.json, .png (curves and gaps) and, for 2-D sources,
_cells.png; and codec_compare_summary.json with, per source, the codec closest to R(D) at 1, 2 and 3 bits
per sample and the targets of issue 15:
- 1-D: ``uniform`` and ``ntc`` within 0.02 bit of the best entropy-coded scalar quantizer (the lower
  convex hull of uniform-threshold quantizers with a dead zone, by quadrature, ibflow.vector.ecsq) at
  every D they reach;
- 2-D: ECVQ at least as close to R(D) as NTC (mean gap over the matched rates they share);
- the best codec's gap to R(D) per dimension at 1-3 bits per sample (the aim: within 0.1 bit).

On the shipped data (``patches``, ``digits``: issue 16) NTC and FlowCodec are measured against the bounds of
benchmarks/results/rd_bounds_<data>.json (cached for codec_compare from that file when no run of
analysis.rd_bounds has cached them on this machine), and rd_bounds_<data>_codecs.png shows their real bytes
beside the bounds. FlowCodec trains there at lr 0.002: at the default 0.02 its 64-d flows diverge within
five steps (Adam moves every entry of a 64 x 64 LU factor by ~lr at once). NTC standardises its input
there (pixels of 0-16; without it, it rounds every digit to one cell).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analysis import codec_compare
from analysis.rd_bounds import cache_bounds, plot_bounds
from synthetic.sources.empirical import EmpiricalSource
from ibflow.vector.ecsq import ecsq_curve
from synthetic import get_source

OUT = Path(__file__).resolve().parent / "results"
CODECS = list(codec_compare.DEFAULT_CODECS)
SOURCES = {
    "gaussian": ["--source", "gaussian"],
    "laplace": ["--source", "laplace"],
    "mixture": ["--source", "mixture"],
    "banana": ["--source", "banana"],
    "correlated-laplace": ["--source", "correlated-laplace"],
    # 2-D sources with R(D) exact (reverse water-filling) or from the 1-D certified table (i.i.d. Laplace)
    "gaussian-2d": ["--source", "gaussian-vector", "--covariance", "[[1, 0.8], [0.8, 1]]"],
    "laplace-2d": ["--source", "laplace", "--dim", "2"],
}
DATA = ("patches", "digits")
for _data in DATA:
    SOURCES[_data] = ["--source", f"data:{_data}", "--train-options", '{"flowcodec": {"lr": 0.002}}',
                      "--codec-options", '{"ntc": {"standardize": true}}']
DATA_CODECS = ["ntc", "flowcodec"]
TWO_D = {"banana", "correlated-laplace", "gaussian-2d", "laplace-2d"}
ECSQ_TOLERANCE_BITS = 0.02


def _ecsq_check(name: str, report: dict[str, Any]) -> dict[str, Any]:
    """For a 1-D source: each scalar codec's operational rate minus the best ECSQ's rate at its D."""
    source = get_source(report["source"], **report["params"])
    curve = ecsq_curve(lambda y: source.log_prob(torch.from_numpy(y[:, None])).numpy(), _box(source))
    out: dict[str, Any] = {}
    for codec in ("uniform", "ntc", "ecvq", "ectcq"):
        pts = [p for p in report["points"] if p["codec"] == codec and "error" not in p]
        excess = []
        for p in pts:
            ref = curve(p["distortion_operational"]) / math.log(2)
            excess.append(p["rate_operational"] - ref)
        if excess:
            out[codec] = {"excess_over_ecsq_bits": excess, "max_excess_bits": max(excess),
                          "within_0.02": bool(max(excess) <= ECSQ_TOLERANCE_BITS)}
    return out


def _gap_to_bracket(report: dict[str, Any]) -> dict[str, list[dict[str, float]]]:
    """Per codec and point: its real bytes minus the upper and the lower bound on R(D) at its decoded D
    (the source's own bounds: the time-sharing envelope of the upper points, the dual lines)."""
    source = get_source(report["source"], **report["params"])
    out: dict[str, list[dict[str, float]]] = {}
    for p in report["points"]:
        if "error" in p or p.get("rate_operational") is None:
            continue
        rd = source.rate_distortion(p["distortion_operational"])
        out.setdefault(p["codec"], []).append({
            "beta": p["beta"], "distortion": p["distortion_operational"], "rate": p["rate_operational"],
            "above_upper": p["rate_operational"] - rd.upper / math.log(2),
            "above_lower": p["rate_operational"] - rd.lower / math.log(2),
        })
    return out


def _box(source: Any) -> tuple[float, float]:
    sd = math.sqrt(float(np.sum(source.variance())))
    return -14 * sd, 14 * sd


def _bounds_for(data: str) -> dict[str, Any]:
    """The committed rd_bounds report of ``data``, cached for codec_compare if nothing is cached yet."""
    report = json.loads((OUT / f"rd_bounds_{data}.json").read_text())
    source = get_source(f"data:{data}")
    assert isinstance(source, EmpiricalSource)
    if not source.load_cached_bounds():
        path = cache_bounds(source, report)
        print(f"{data}: bounds cached from {OUT.name}/rd_bounds_{data}.json at {path}")
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(SOURCES), default=list(SOURCES))
    p.add_argument("--codecs", nargs="+", default=CODECS)
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    summary_path = OUT / "codec_compare_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for name in args.only:
        stem = OUT / f"codec_compare_{name}"
        bounds = _bounds_for(name) if name in DATA else None
        codecs = DATA_CODECS if name in DATA and args.codecs == CODECS else args.codecs
        argv = SOURCES[name] + ["--codecs", *codecs, "--json", f"{stem}.json", "--plot", f"{stem}.png", "--no-progress"]
        if name in TWO_D:
            argv += ["--cells", f"{stem}_cells.png"]
        start = time.perf_counter()
        code = codec_compare.main(argv)
        wall = time.perf_counter() - start
        report = json.loads(Path(f"{stem}.json").read_text())
        entry: dict[str, Any] = {
            "command": "python -m analysis.codec_compare " + " ".join(a for a in argv if not a.startswith(str(OUT))),
            "exit_status": code,
            "wall_s": round(wall, 1),
            "dim": report["dim"],
            "best_at_rate": report["summary"]["best_at_rate"],
            "mean_gap_bits": {c: s["mean_gap_bits"] for c, s in report["summary"]["codecs"].items()},
            "bd_rate_percent": {c: s["bd_rate_percent"] for c, s in report["summary"]["codecs"].items()},
            "violations": sum(bool(q["violations"]) for q in report["points"]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
            "date": time.strftime("%Y-%m-%d"),
        }
        if bounds is not None:
            plot_bounds(bounds, OUT / f"rd_bounds_{name}_codecs.png", [report])
            entry["gap_to_bracket_bits"] = _gap_to_bracket(report)
        elif report["dim"] == 1:
            entry["ecsq_target"] = _ecsq_check(name, report)
        else:
            gaps = report["summary"]["codecs"]
            shared = [r for r in ("1", "2", "3") if all(gaps.get(c, {}).get("gap_at_rate", {}).get(r) is not None
                                                        for c in ("ecvq", "ntc"))]
            if shared:
                ecvq = float(np.mean([gaps["ecvq"]["gap_at_rate"][r] for r in shared]))
                ntc = float(np.mean([gaps["ntc"]["gap_at_rate"][r] for r in shared]))
                entry["ecvq_vs_ntc"] = {"matched_rates": shared, "ecvq_mean_gap_bits": ecvq, "ntc_mean_gap_bits": ntc,
                                        "ecvq_at_least_as_close": bool(ecvq <= ntc)}
        summary[name] = entry
        summary_path.write_text(json.dumps(summary, indent=2))
        print(f"{name}: {wall:.1f} s, exit {code}, best {entry['best_at_rate']}")


if __name__ == "__main__":
    main()
