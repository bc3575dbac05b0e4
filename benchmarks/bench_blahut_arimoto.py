"""Benchmark of synthetic.ba (Blahut-Arimoto): speed and certified gaps (rates reported in bits)."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import scipy
from scipy.optimize import brentq
from scipy.stats import norm

from synthetic.ba import (
    GridSquaredError,
    blahut_arimoto,
    certify_rd_continuous,
)

__all__ = ["build_parser", "main"]

LN2 = math.log(2.0)
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "blahut_arimoto.json"


def gaussian_grid(n: int, half_width: float = 8.0) -> tuple[np.ndarray, GridSquaredError]:
    """Exact cell masses of N(0, 1) on n cells over [-half_width, half_width]."""
    z = np.linspace(-half_width, half_width, n + 1)
    p = np.where(z[1:] <= 0, np.diff(norm.cdf(z)), -np.diff(norm.sf(z)))
    return p / p.sum(), GridSquaredError((n,), (z[1] - z[0],))


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(first-call seconds, best of `repeats` seconds, result of the last call)."""
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times), out


def bench_grid(n: int, distortions: Sequence[float], tol_bits: float, repeats: int) -> dict[str, Any]:
    p, grid = gaussian_grid(n)
    slopes = 1.0 / (2.0 * np.asarray(distortions))  # R'(D) = -1/(2D) for a unit Gaussian
    first, best, pts = best_time(lambda: blahut_arimoto(p, grid, slopes, tol_bits=tol_bits), repeats)
    rows = [
        {
            "slope": pt.slope,
            "distortion": pt.distortion,
            "rate_lower_bits": pt.rate_lower / LN2,
            "rate_upper_bits": pt.rate_upper / LN2,
            "gap_bits": pt.gap / LN2,
            "gaussian_rd_bits": 0.5 * math.log2(1.0 / pt.distortion),
            "iterations": pt.iterations,
            "converged": pt.converged,
        }
        for pt in pts
    ]
    return {
        "grid_points": n,
        "slopes": len(slopes),
        "tol_bits": tol_bits,
        "seconds_first_call": first,
        "seconds_best": best,
        "repeats": repeats,
        "max_gap_bits": max(r["gap_bits"] for r in rows),
        "all_converged": all(r["converged"] for r in rows),
        "total_iterations": int(sum(r["iterations"] for r in rows)),
        "points": rows,
    }


def bench_dense_vs_fft(n: int, distortions: Sequence[float], tol_bits: float) -> dict[str, Any]:
    p, grid = gaussian_grid(n)
    slopes = 1.0 / (2.0 * np.asarray(distortions))
    t0 = time.perf_counter()
    fast = blahut_arimoto(p, grid, slopes, tol_bits=tol_bits)
    t_fast = time.perf_counter() - t0
    dense = grid.dense()
    t0 = time.perf_counter()
    ref = blahut_arimoto(p, dense, slopes, tol_bits=tol_bits)
    t_dense = time.perf_counter() - t0
    same_q = []
    for f in fast:  # both certificates at the very same q
        (g,) = blahut_arimoto(p, grid, f.slope, q0=f.q, tol_bits=tol_bits, max_iter=0)
        (h,) = blahut_arimoto(p, dense, f.slope, q0=f.q, tol_bits=tol_bits, max_iter=0)
        same_q.append((abs(g.distortion - h.distortion) / h.distortion, abs(g.rate_upper - h.rate_upper) / LN2))
    return {
        "grid_points": n,
        "slopes": len(slopes),
        "seconds_fft": t_fast,
        "seconds_dense": t_dense,
        "max_upper_bound_difference_bits": max(abs(f.rate_upper - r.rate_upper) for f, r in zip(fast, ref)) / LN2,
        "same_q_max_rel_distortion_difference": max(a for a, _ in same_q),
        "same_q_max_upper_bound_difference_bits": max(b for _, b in same_q),
        "all_converged": all(pt.converged for pt in fast + ref),
    }


def reverse_water_filling(variances: np.ndarray, D: float) -> float:
    theta = brentq(lambda t: np.minimum(t, variances).sum() - D, 1e-300, variances.sum())
    return float(0.5 * np.log(variances / np.minimum(theta, variances)).sum())


def bench_continuous(
    variances: Sequence[float], distortions: Sequence[float], n: int | None, repeats: int
) -> list[dict[str, Any]]:
    v = np.asarray(variances, dtype=float)
    sd = np.sqrt(v)

    def log_p(x: np.ndarray) -> np.ndarray:
        return -0.5 * (x**2 / v).sum(axis=1) - 0.5 * np.log(2 * np.pi * v).sum()

    rows = []
    for D in distortions:
        first, best, cert = best_time(
            lambda D=D: certify_rd_continuous(log_p, D, lo=-8 * sd, hi=8 * sd, n=n), repeats
        )
        exact = reverse_water_filling(v, D)
        rows.append(
            {
                "variances": list(map(float, v)),
                "D": D,
                "ba_grid": list(cert.discrete.q.shape),
                "lower_bits": cert.lower / LN2,
                "upper_bits": cert.upper / LN2,
                "exact_bits": exact / LN2,
                "width_nats": cert.upper - cert.lower,
                "contains_exact": bool(cert.lower <= exact <= cert.upper),
                "seconds_first_call": first,
                "seconds_best": best,
                "error_budget_nats": cert.errors,
            }
        )
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (best is reported)")
    parser.add_argument("--quick", action="store_true", help="skip the dense comparison and 2-D runs")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    distortions = np.geomspace(0.95, 1e-4, 20)  # 0.04 to 6.6 bits
    grid = bench_grid(4096, distortions, 1e-4, args.repeats)
    result: dict[str, Any] = {
        "unit": "bits",
        "note": "rates in bits; widths of continuous bounds in nats (width_nats); distortion is MSE",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "platform": platform.platform(),
        },
        "grid_4096_x_20_slopes": grid,
    }
    if not args.quick:
        result["fft_vs_dense_512"] = bench_dense_vs_fft(512, distortions[:12], 1e-4)
    result["continuous_1d_unit_gaussian"] = bench_continuous([1.0], [0.05, 0.25, 0.5], None, args.repeats)
    if not args.quick:
        result["continuous_2d_gaussian_1_0.25"] = bench_continuous([1.0, 0.25], [0.1, 0.3, 0.6], 64, 2)

    print(f"Blahut-Arimoto, unit Gaussian on 4096 cells over +-8 sd, 20 slopes, tol 1e-4 bits ({os.cpu_count()} CPUs)")
    print(
        f"  time: first call {grid['seconds_first_call']:.3f} s, best of {args.repeats} {grid['seconds_best']:.3f} s; "
        f"max certified gap {grid['max_gap_bits']:.2e} bits; all converged: {grid['all_converged']}; "
        f"BA updates {grid['total_iterations']}"
    )
    print(f"  {'D':>10} {'lower[bit]':>12} {'upper[bit]':>12} {'gap[bit]':>9} {'1/2log2(1/D)':>13} {'iters':>6}")
    for r in grid["points"]:
        print(f"  {r['distortion']:10.3e} {r['rate_lower_bits']:12.6f} {r['rate_upper_bits']:12.6f} "
              f"{r['gap_bits']:9.2e} {r['gaussian_rd_bits']:13.6f} {r['iterations']:6d}")
    if "fft_vs_dense_512" in result:
        c = result["fft_vs_dense_512"]
        print(
            f"FFT vs dense, 512 cells x {c['slopes']} slopes: fft {c['seconds_fft']:.3f} s, "
            f"dense {c['seconds_dense']:.2f} s; same q: rel. D diff {c['same_q_max_rel_distortion_difference']:.1e}, "
            f"upper-bound diff {c['same_q_max_upper_bound_difference_bits']:.1e} bits"
        )
    for key in ("continuous_1d_unit_gaussian", "continuous_2d_gaussian_1_0.25"):
        if key not in result:
            continue
        print(f"{key}: bounds valid for the continuous source")
        head = ("D", "lower[bit]", "upper[bit]", "exact[bit]", "width[nat]", "inside", "s/call")
        print("  " + " ".join(f"{h:>{w}}" for h, w in zip(head, (5, 12, 12, 12, 11, 6, 7))))
        for r in result[key]:
            print(f"  {r['D']:5.2f} {r['lower_bits']:12.7f} {r['upper_bits']:12.7f} {r['exact_bits']:12.7f} "
                  f"{r['width_nats']:11.2e} {str(r['contains_exact']):>6} {r['seconds_best']:7.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
