"""Where the non-Gaussian gaps come from (issue 18): the mixture's worst point (beta = 2.5) under one
change of the FlowCodec at a time, then full default sweeps of the mixture and Laplace with a deeper
encoder (``--depth 3``). Each run is ``python -m analysis.rd_gap`` in-process; rates in bits.

    python benchmarks/bench_low_rate_channel.py   # ~5 min on 2 cores -> benchmarks/results/low_rate_channel.json
"""

from __future__ import annotations

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
    report: dict[str, Any] = {
        "unit": "bits", "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"), "mixture_beta_2.5": {}, "sweeps": {},
    }
    for name, extra in VARIANTS.items():
        report["mixture_beta_2.5"][name] = run(POINT + extra)
    for name, argv in SWEEPS.items():
        report["sweeps"][name] = run(argv)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    for name, r in report["mixture_beta_2.5"].items():
        p = r["points"][0]
        print(f"mixture beta 2.5 {name:>18}: gap {p['gap']:+.4f} = prior {p['gap_prior']:+.4f} + channel {p['gap_channel']:+.4f}")
    for name, r in report["sweeps"].items():
        print(f"{name}: worst gap {r['max_gap_bits']:.4f} bits, {r['wall_s']} s")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
