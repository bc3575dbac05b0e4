"""Command line: ``python -m estimators --x x.npy --y y.npy --method ksg`` prints I(X; Y) and its interval."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence

import numpy as np

from .mi import METHODS, NEURAL, estimate_mi

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser for the estimators command line."""
    p = argparse.ArgumentParser(prog="python -m estimators", description="Estimate I(X; Y) from two .npy arrays of shape (n, d).")
    p.add_argument("--x", required=True, help="path to x.npy")
    p.add_argument("--y", required=True, help="path to y.npy")
    p.add_argument("--method", default="ksg", choices=METHODS)
    p.add_argument("--k", type=int, default=3, help="KSG / kNN entropy neighbours")
    p.add_argument("--variant", type=int, default=1, choices=(1, 2), help="KSG variant")
    p.add_argument("--copula", action="store_true", help="KSG on the rank-transformed marginals")
    p.add_argument("--steps", type=int, default=2000, help="training steps (neural methods, ba)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--critic", default="separable", choices=("separable", "concat"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bits", action="store_true", help="print bits instead of nats")
    p.add_argument("--json", default=None, help="also write the result to this JSON path")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    x, y = np.load(args.x), np.load(args.y)
    if args.method == "ksg":
        opts = dict(k=args.k, variant=args.variant, copula=args.copula, seed=args.seed)
    elif args.method in NEURAL:
        opts = dict(steps=args.steps, batch_size=args.batch_size, critic=args.critic, seed=args.seed, progress=not args.no_progress)
    else:
        opts = dict(k=args.k, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress)
    est = estimate_mi(x, y, method=args.method, **opts)
    scale, unit = (1 / math.log(2), "bits") if args.bits else (1.0, "nats")
    ci = None if est.ci is None else (est.ci[0] * scale, est.ci[1] * scale)
    ci_text = "no interval" if ci is None else f"95% interval [{ci[0]:.4f}, {ci[1]:.4f}]"
    print(f"I(X;Y) = {est.value * scale:.4f} {unit}  ({ci_text}; method {est.method}, n = {len(x)})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"method": est.method, "value": est.value * scale, "ci": ci, "unit": unit, "n": len(x)}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
