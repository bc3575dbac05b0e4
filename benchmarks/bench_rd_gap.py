"""Benchmark of analysis.rd_gap on the four sources (and one non-FlowCodec codec): runtime, gaps and violations.

Run from the repository root:  python benchmarks/bench_rd_gap.py [--only gaussian ...]
Writes benchmarks/results/rd_gap_<source>.json and .png, and a summary rd_gap_summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from analysis import rd_gap

OUT = Path(__file__).resolve().parent / "results"
RUNS = {
    "gaussian": ["--source", "gaussian"],
    "gaussian-vector": ["--source", "gaussian-vector", "--variances", "4", "1", "0.25", "0.0625"],
    "mixture": ["--source", "mixture"],
    "laplace": ["--source", "laplace"],
    # a codec other than the FlowCodec, audited through the codec contract by its real bytes
    "gaussian-ntc": ["--source", "gaussian", "--codec", "ntc", "--betas", "0.05", "0.5"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", nargs="+", choices=sorted(RUNS), default=sorted(RUNS))
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    summary_path = OUT / "rd_gap_summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for name in args.only:
        start = time.perf_counter()
        code = rd_gap.main(RUNS[name] + ["--json", str(OUT / f"rd_gap_{name}.json"),
                                         "--plot", str(OUT / f"rd_gap_{name}.png"), "--no-progress"])
        wall = time.perf_counter() - start
        report = json.loads((OUT / f"rd_gap_{name}.json").read_text())
        pts = report["points"]
        summary[name] = {
            "command": "python -m analysis.rd_gap " + " ".join(RUNS[name]),
            "exit_status": code,
            "wall_s": round(wall, 1),
            "points": len(pts),
            "max_gap_bits": max(q["gap"] for q in pts),
            "violations": sum(bool(q["violations"]) for q in pts),
            "train_s_per_point": [round(q["train_seconds"], 2) for q in pts],
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
            "date": time.strftime("%Y-%m-%d"),
        }
        summary_path.write_text(json.dumps(summary, indent=2))
        print(f"{name}: {wall:.1f} s, max gap {summary[name]['max_gap_bits']:.4f} bits, exit {code}")


if __name__ == "__main__":
    main()
