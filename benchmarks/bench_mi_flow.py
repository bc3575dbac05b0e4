"""Time per estimate of the density estimators at 25 + 25 dimensions (the issue's target: under 30 s on this CPU).

Run from the repository root:  python benchmarks/bench_mi_flow.py [--seeds 0 1 2] [--threads 1]
Writes benchmarks/results/mi_flow_speed.json (values in nats; "unit": "nats"): for each of the suite's two
25 + 25-d tasks (synthetic.mi_tasks), n = 5000 pairs, each method and seed: the estimate, its interval,
the seconds and the steps run, and per method the largest time.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from estimators import estimate_mi
from synthetic.mi_tasks import get_task

OUT = Path(__file__).resolve().parent / "results"
TASKS = ("multinormal-dense-25x25", "multinormal-sparse-25x25")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=["flow", "doe"])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as each suite worker runs)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in TASKS:
        sampler = get_task(name).build()
        for seed in args.seeds:
            x, y = sampler.sample(args.n, seed=seed)
            for method in args.methods:
                start = time.perf_counter()
                est = estimate_mi(x, y, method=method, seed=seed, progress=False)
                seconds = time.perf_counter() - start
                rows.append({"task": name, "method": method, "seed": seed, "n": args.n, "dim_x": sampler.dim_x,
                             "dim_y": sampler.dim_y, "true_mi": sampler.mutual_information, "value": est.value,
                             "ci": list(est.ci) if est.ci else None, "seconds": seconds,
                             "steps_run": est.extra.get("steps_run"), "latent": est.extra.get("latent")})
                print(f"{name:26s} {method:5s} seed {seed}: true {sampler.mutual_information:.3f} est {est.value:.3f} "
                      f"{seconds:6.1f} s ({est.extra.get('steps_run')} steps)", flush=True)
    worst = {m: max(r["seconds"] for r in rows if r["method"] == m) for m in args.methods}
    print("largest time per estimate: " + ", ".join(f"{m} {s:.1f} s" for m, s in worst.items()) + " (target < 30 s)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mi_flow_speed.json").write_text(json.dumps(
        {"unit": "nats", "machine": platform.platform(), "torch_threads": args.threads, "target_seconds": 30.0,
         "largest_seconds": worst, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
