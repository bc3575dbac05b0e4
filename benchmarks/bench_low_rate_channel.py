"""Where the non-Gaussian gaps come from (issue 18): the mixture's worst point (beta = 2.5) and Laplace's
two worst (beta = 2 and 3) under one change of the FlowCodec at a time, then full default sweeps of the
mixture and Laplace with a deeper encoder (``--depth 3``). Each run is ``python -m analysis.rd_gap``
in-process, one process; rates in bits.

    python benchmarks/bench_low_rate_channel.py   # ~7 min on 2 cores -> benchmarks/results/low_rate_channel.json
    python benchmarks/bench_low_rate_channel.py --parts laplace   # that part alone, the others kept
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from analysis import rd_gap

OUT = Path(__file__).resolve().parent / "results" / "low_rate_channel.json"
POINT = ["--source", "mixture", "--betas", "2.5", "--eval-samples", "65536", "--jobs", "1", "--no-progress"]
VARIANTS: dict[str, list[str]] = {
    "default": [], "--spline-bins 16": ["--spline-bins", "16"], "--depth 3": ["--depth", "3"],
    "--steps 1600": ["--steps", "1600"], "--learn-sigma": ["--learn-sigma"],
}
LAPLACE_BETAS = ("2", "3")


def laplace_point(beta: str) -> list[str]:
    """One Laplace point, set up as the mixture's ``POINT``."""
    return ["--source", "laplace", "--betas", beta, *POINT[4:]]


LAPLACE_VARIANTS: dict[str, list[str]] = {
    **VARIANTS, "--depth 3 --spline-bins 16": ["--depth", "3", "--spline-bins", "16"], "--hidden 64": ["--hidden", "64"],
    "--schedule constant": ["--schedule", "constant"], "--lr 0.01": ["--lr", "0.01"],
}
SWEEPS: dict[str, list[str]] = {
    "mixture --depth 3": ["--source", "mixture", "--depth", "3", "--no-progress"],
    "laplace --depth 3": ["--source", "laplace", "--depth", "3", "--no-progress"],
}


def run(argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        start = time.perf_counter()
        code = rd_gap.main(argv + ["--json", str(path)])
        wall = time.perf_counter() - start
        points = json.loads(path.read_text())["points"]
    return {
        "argv": argv, "exit_status": code, "wall_s": round(wall, 1),
        "points": [{k: p[k] for k in ("beta", "distortion", "rate_kl", "gap", "gap_prior", "gap_channel")} for p in points],
        "max_gap_bits": max(p["gap"] for p in points),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", choices=("mixture", "laplace", "sweeps"), default=["mixture", "laplace", "sweeps"],
                        help="what to run; the other parts of an existing report are kept")
    args = parser.parse_args()
    report: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    report.update({"unit": "bits", "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only"})
    dates = report.setdefault("dates", {})
    if "mixture" in args.parts:
        report["mixture_beta_2.5"] = {name: run(POINT + extra) for name, extra in VARIANTS.items()}
    if "laplace" in args.parts:
        report["laplace_low_rate"] = {
            beta: {name: run(laplace_point(beta) + extra) for name, extra in LAPLACE_VARIANTS.items()} for beta in LAPLACE_BETAS
        }
    if "sweeps" in args.parts:
        report["sweeps"] = {name: run(argv) for name, argv in SWEEPS.items()}
    for part in args.parts:
        dates[part] = time.strftime("%Y-%m-%d")
    report.pop("date", None)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    for name, r in report.get("mixture_beta_2.5", {}).items():
        p = r["points"][0]
        print(f"mixture beta 2.5 {name:>26}: gap {p['gap']:+.4f} = prior {p['gap_prior']:+.4f} + channel {p['gap_channel']:+.4f}")
    for beta, runs in report.get("laplace_low_rate", {}).items():
        for name, r in runs.items():
            p = r["points"][0]
            print(f"laplace beta {beta} {name:>28}: gap {p['gap']:+.4f} = prior {p['gap_prior']:+.4f} + channel "
                  f"{p['gap_channel']:+.4f} (D {p['distortion']:.4f})")
    for name, r in report.get("sweeps", {}).items():
        print(f"{name}: worst gap {r['max_gap_bits']:.4f} bits, {r['wall_s']} s")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
