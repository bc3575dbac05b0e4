"""Speed of the main sweeps against a baseline commit, side by side in one run (ratios, not absolute times).

For each case (the README's default run, gaussian-vector, mixture; the 1-D ones also with this
checkout's ``--batched``) ``python -m analysis.rd_gap`` runs in this checkout and in a git worktree of
the baseline commit (default 2b0e613, the main of issue 18's
filing), alternately, ``--repeats`` times each, with the same interpreter. A run's wall time is the
whole process (imports, worker start-up, training, measurement); both trees' caches are warmed first
(byte-code, and this checkout's numba kernels, compiled once per checkout). The report gives each side's median,
the ratio now / baseline, and each side's accuracy from its JSON (worst E KL - R(D), violations), so a
speed-up that costs accuracy shows.

    python benchmarks/bench_speed.py              # ~15 min on 2 cores -> benchmarks/results/speed.json
    python benchmarks/bench_speed.py --cases gaussian --repeats 3
    python benchmarks/bench_speed.py --steps-only  # ms per step, fused spline vs reference; kernel compile time
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "speed.json"
BASELINE = "2b0e613"
# name -> (the arguments both sides run, what this checkout adds: options the baseline does not have)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "gaussian": (["--source", "gaussian"], []),  # the README's main job: every point in its own process
    "gaussian --batched": (["--source", "gaussian"], ["--batched"]),
    "gaussian-vector": (["--source", "gaussian-vector", "--variances", "4", "1", "0.25", "0.0625"], []),
    "mixture": (["--source", "mixture"], []),
    "mixture --batched": (["--source", "mixture"], ["--batched"]),
}


def warm_caches(tree: Path) -> None:
    """Import rd_gap and run one spline layer forward and backward in ``tree``, so that neither side's
    first timed run pays for byte-compiling its modules or (this checkout's) compiling the numba kernels
    of ibflow.flows.spline_kernels, which are cached once per checkout."""
    code = ("import torch, analysis.rd_gap; from ibflow.flows import ElementwiseSpline; s = ElementwiseSpline(1); "
            "x = torch.randn(8, 1, requires_grad=True); y, l = s(x); (y.sum() + l.sum()).backward(); "
            "torch.no_grad()(s.inverse)(x)")
    subprocess.run([sys.executable, "-c", code], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)


def worktree(commit: str, where: Path) -> Path:
    """A detached git worktree of ``commit`` at ``where`` (reused if it is already there)."""
    if not (where / ".git").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                       check=True, capture_output=True)
    return where


def timed_run(tree: Path, argv: list[str], json_path: Path) -> dict[str, Any]:
    """Run rd_gap in ``tree`` (its own packages first on the path); wall time and accuracy."""
    cmd = [sys.executable, "-m", "analysis.rd_gap", *argv, "--no-progress", "--json", str(json_path)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} in {tree} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    points = json.loads(json_path.read_text())["points"]
    good = [p for p in points if "error" not in p]
    # where a point's time goes (as its process measured it; a batched point's training is its share)
    per_point = {k: round(statistics.median(p[k] for p in good), 2) for k in ("train_seconds", "measure_seconds")
                 if all(k in p for p in good)}
    return {
        "wall_s": round(wall, 2),
        "median_per_point_s": per_point,
        "exit_status": proc.returncode,
        "max_gap_bits": max(p["gap"] for p in good),
        "max_abs_gap_bits": max(abs(p["gap"]) for p in good),
        "violations": sum(bool(p["violations"]) for p in points),
        "points": len(points),
    }


STEP_TIMER = """
import json, sys, time, torch
from ibflow import FlowCodec, TrainConfig, train
from ibflow.vector.batched import BatchedFlowCodec
from synthetic import get_source
from analysis.measure import draw
torch.set_num_threads(1)
source = get_source("gaussian")
out = {}
for size in (1, 3):
    codecs = []
    for b in range(size):
        torch.manual_seed(0)
        codecs.append(FlowCodec(1))
    model = codecs[0] if size == 1 else BatchedFlowCodec(codecs, [0.2 * (b + 1) for b in range(size)])
    sample = lambda n, seed: draw(source, n, seed)
    train(model, sample, 0.2 if size == 1 else 1.0, TrainConfig(steps=20), progress=False)  # warm-up
    out[size] = train(model, sample, 0.2 if size == 1 else 1.0, TrainConfig(steps=300), progress=False).seconds / 300 * 1e3
print(json.dumps(out))
"""


KERNEL_FIRST_USE = """
import time, torch
from ibflow.flows import ElementwiseSpline
layer = ElementwiseSpline(1)
x = torch.randn(8, 1, requires_grad=True)
start = time.perf_counter()
y, log_derivative = layer(x)
(y.sum() + log_derivative.sum()).backward()
torch.no_grad()(layer.inverse)(x)
print(time.perf_counter() - start)
"""


def kernel_first_use() -> dict[str, float]:
    """Seconds of a process's first spline forward, backward and inverse: with an empty numba cache (the
    kernels compiled, as in a fresh checkout) and then with that cache (loaded, as in every later process)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": cache}
        times = [float(subprocess.run([sys.executable, "-c", KERNEL_FIRST_USE], cwd=ROOT, env=env, capture_output=True,
                                      text=True, check=True).stdout) for _ in range(2)]
    return {"compile_s": round(times[0], 2), "cached_s": round(times[1], 2)}


def step_times() -> dict[str, Any]:
    """Milliseconds per training step (Adam, batch 2048, one thread) of one 1-D FlowCodec and of three
    batched ones, with the fused spline kernels and with the PyTorch reference spline
    (IBFLOW_FUSED_SPLINE=0), in this checkout, alternately, twice each."""
    runs: dict[str, list[dict[str, float]]] = {"fused": [], "reference": []}
    for _ in range(2):
        for name, flag in (("reference", "0"), ("fused", "1")):
            env = {**os.environ, "PYTHONPATH": str(ROOT), "IBFLOW_FUSED_SPLINE": flag}
            proc = subprocess.run([sys.executable, "-c", STEP_TIMER], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            runs[name].append({f"codecs_{k}": round(v, 2) for k, v in json.loads(proc.stdout).items()})
    median = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    return {"unit": "ms per step", "median": median, "runs": runs,
            "ratio_fused": {k: round(median["fused"][k] / median["reference"][k], 3) for k in median["fused"]}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--baseline", default=BASELINE)
    p.add_argument("--steps-only", action="store_true", help="only the per-step timings (fused spline against the reference)")
    args = p.parse_args()
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, check=True).stdout.strip())
    previous = json.loads(OUT.read_text()).get("cases", {}) if OUT.exists() else {}
    report: dict[str, Any] = {
        "unit": "seconds (wall, whole process) and bits",
        "now": head + ("+uncommitted" if dirty else ""),
        "baseline": args.baseline,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only",
        "date": time.strftime("%Y-%m-%d"),
        # the cases not run now keep their last figures (each case says its commits); retired cases go
        "cases": {k: v for k, v in previous.items() if k in CASES},
    }
    warm_caches(ROOT)
    report["steps"] = step_times()
    print(f"per step: {report['steps']['median']} (fused / reference {report['steps']['ratio_fused']})", flush=True)
    report["kernel_first_use"] = kernel_first_use()
    print(f"spline kernels on first use: {report['kernel_first_use']}", flush=True)
    if args.steps_only:  # this checkout alone: no baseline worktree to make or warm
        OUT.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {OUT}")
        return
    base_tree = worktree(args.baseline, Path(tempfile.gettempdir()) / f"ibflow-baseline-{args.baseline}")
    warm_caches(base_tree)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            runs: dict[str, list[dict[str, Any]]] = {"now": [], "baseline": []}
            for r in range(args.repeats):
                # alternate the two sides so that a change in the machine's load falls on both
                both, extra = CASES[name]
                for side, tree, argv in (("baseline", base_tree, both), ("now", ROOT, both + extra)):
                    result = timed_run(tree, argv, Path(tmp) / f"{name.replace(' ', '_')}-{side}-{r}.json")
                    runs[side].append(result)
                    print(f"{name:>16} {side:>8}: {result['wall_s']:7.1f} s, max gap {result['max_gap_bits']:+.4f} bits, "
                          f"{result['violations']} violations", flush=True)
            now = statistics.median(x["wall_s"] for x in runs["now"])
            base = statistics.median(x["wall_s"] for x in runs["baseline"])
            report["cases"][name] = {
                "now": report["now"], "baseline": args.baseline, "date": report["date"],
                "argv": CASES[name][0], "now_extra_argv": CASES[name][1], "now_s": now, "baseline_s": base, "ratio": round(now / base, 3), "runs": runs,
            }
            print(f"{name:>16}: {now:.1f} s against {base:.1f} s, ratio {now / base:.2f}", flush=True)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(report, indent=1) + "\n")  # each case as it finishes
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
