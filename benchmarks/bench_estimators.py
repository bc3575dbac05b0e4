"""Benchmark of estimators on correlated Gaussians with known MI: runtime, estimate, interval.

Run from the repository root:  python benchmarks/bench_estimators.py [--quick]
Writes benchmarks/results/estimators.json (values in nats; "unit": "nats").
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from estimators import estimate_mi
from synthetic.samplers import CorrelatedGaussian

OUT = Path(__file__).resolve().parent / "results"


def pair(n: int, d: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """n draws of the library's correlated Gaussian pair (d coordinates, correlation rho) and its MI."""
    sampler = CorrelatedGaussian(rho=rho, dim=d)
    x, y = sampler.sample(n, seed=seed)
    return x, y, sampler.mutual_information


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer training steps")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: shared 2-core machine)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    runs = [
        ("ksg", 10_000, 5, 0.6, dict(variant=1)),
        ("ksg", 10_000, 5, 0.6, dict(variant=2)),
        ("ksg", 10_000, 5, 0.6, dict(variant=1, copula=True)),
    ]
    steps = 300 if args.quick else 2000
    for method in ("nwj", "dv", "infonce", "js", "smile", "interpolated", "ba", "doe"):
        opts = dict(steps=steps, progress=False, seed=0)
        if method == "ba":
            opts["entropy_x"] = 5 * 0.5 * math.log(2 * math.pi * math.e)
        runs.append((method, 10_000, 5, 0.6, opts))
    # the 20-d staircase's top step (Poole et al. 2019; I = 10 nats): target under 30 s per neural estimate
    rho10 = math.sqrt(-math.expm1(-1.0))
    for method in ("smile", "doe"):
        opts = dict(steps=300 if args.quick else 4000, progress=False, seed=0)
        if method == "smile":
            opts["batch_size"] = 64
        runs.append((method, 32_000, 20, rho10, opts))
    for method, n, d, rho, opts in runs:
        x, y, mi = pair(n, d, rho, seed=0)
        start = time.perf_counter()
        est = estimate_mi(x, y, method=method, **opts)
        seconds = time.perf_counter() - start
        row = {
            "method": method,
            "options": {k: v for k, v in opts.items() if k != "progress"},
            "n": n,
            "dim_x": d,
            "dim_y": d,
            "true_mi": mi,
            "value": est.value,
            "ci": est.ci,
            "seconds": seconds,
            "steps_run": len(est.curve) if est.curve else None,
        }
        rows.append(row)
        ci = "none" if est.ci is None else f"[{est.ci[0]:.3f}, {est.ci[1]:.3f}]"
        print(f"{method:8s} {str(row['options']):40s} true {mi:.3f}  est {est.value:.3f}  ci {ci}  {seconds:.2f} s", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "estimators.json").write_text(
        json.dumps({"unit": "nats", "machine": platform.platform(), "torch_threads": args.threads, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
