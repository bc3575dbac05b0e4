# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · A Gaussian mixture: the codec against certified Blahut–Arimoto bounds
#
# **What is checked.** The default mixture (two 1-D components at ±1.5, variance 0.25 each) has
# no closed-form R(D). `synthetic` brackets it with Blahut–Arimoto certificates of the
# *continuous* source (`source.rate_distortion(D)` gives lower and upper bounds, Blahut 1972),
# intersected with the Shannon lower bound and the Gaussian upper bound. A plain BA run on a
# histogram of the source is drawn as well: it gives R(D) of the discretised source only.
#
# The checks: no rate measurement of the trained codec falls below the certified lower bound
# beyond its interval (that would be a bug), and the gap E KL − R(D) to the bracket is reported
# and split into prior mismatch and test-channel loss. On this bimodal source a flow codec does
# not reach the optimal (non-Gaussian) test channel in a few hundred steps; the gap is a finding,
# not a failure, and is only bounded loosely.
#
# **Settings.** `IBFLOW_NOTEBOOK_QUICK=1`: two betas, 300 steps, 2^14 samples; otherwise four
# betas, 800 steps, 2^18 samples. Rates in **bits per sample**.

# %%
# Import from this checkout wherever the kernel starts (jupyter lab starts it in notebooks/):
# put the repository root first on sys.path.
import sys
from pathlib import Path

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "ibflow" / "__init__.py").exists())
sys.path.insert(0, str(ROOT))

# %%
import math
import os

import matplotlib.pyplot as plt
import numpy as np

from analysis.rd_gap import SweepSettings, run_sweep
from ibflow import TrainConfig
from synthetic import get_source
from synthetic.ba import blahut_arimoto, grid_source

QUICK = os.environ.get("IBFLOW_NOTEBOOK_QUICK", "0") == "1"
BITS = 1 / math.log(2)
source = get_source("mixture")
BETAS = [0.25, 1.25] if QUICK else [0.125, 0.25, 0.5, 1.25]
settings = SweepSettings(
    source="mixture",
    params=source.params(),
    betas=BETAS,
    train=TrainConfig(steps=300 if QUICK else 800, seed=0),
    n_eval=2**14 if QUICK else 2**18,
)
points, _ = run_sweep(settings, jobs=1, progress=False)
print(f"{'beta':>5} {'D':>7} {'R lower':>8} {'R upper':>8} {'E KL':>7} {'I lo':>7} {'I up':>7} {'coded':>7} {'gap':>7} "
      f"{'prior':>7} {'channel':>8}")
for p in points:
    print(f"{p['beta']:>5g} {p['distortion']:>7.4f} {p['rd_lower']:>8.4f} {p['rd_upper']:>8.4f} {p['rate_kl']:>7.4f} "
          f"{p['mi_lower']:>7.4f} {p['mi_upper']:>7.4f} {p['rate_coded']:>7.4f} {p['gap']:>+7.4f} {p['gap_prior']:>+7.4f} "
          f"{p['gap_channel']:>+8.4f}")

# %% [markdown]
# ## Blahut–Arimoto on the discretised source, and the certified bracket of the continuous one

# %%
grid = grid_source(lambda x: source.log_prob(x).numpy(), -5.0, 5.0, 512 if QUICK else 2048)
ba = blahut_arimoto(grid.masses, grid.distortion, np.geomspace(0.3, 60, 10 if QUICK else 24), tol_bits=1e-3)
d_grid = np.geomspace(0.01, float(source.variance().sum()) * 0.999, 80)
bounds = [source.rate_distortion(d) for d in d_grid]
lower = np.array([b.lower for b in bounds]) * BITS
upper = np.array([b.upper for b in bounds]) * BITS
print(f"certified bracket width: max {np.max(upper - lower):.4f} bit over D in [{d_grid[0]:.2f}, {d_grid[-1]:.2f}]")

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.fill_between(d_grid, lower, upper, color="0.6", alpha=0.6, label="certified R(D) bracket (continuous)")
ax.plot(d_grid, lower, "k-", lw=0.8)
ax.plot([pt.distortion for pt in ba], [pt.rate_upper * BITS for pt in ba], "^", color="C4", ms=4,
        label="BA on a histogram (discretised source)")
ax.plot(d_grid, [source.shannon_lower_bound(d) * BITS for d in d_grid], ":", color="C3", label="Shannon lower bound")
ax.plot(d_grid, [source.gaussian_upper_bound(d) * BITS for d in d_grid], "--", color="C2", label="Gaussian upper bound")
D = [p["distortion"] for p in points]
ax.errorbar(D, [p["rate_kl"] for p in points], yerr=[0.5 * (p["rate_kl_ci"][1] - p["rate_kl_ci"][0]) for p in points],
            fmt="o", color="C0", label="codec E KL ±95%")
ax.vlines(D, [p["mi_lower"] for p in points], [p["mi_upper"] for p in points], color="C1", lw=4, label="codec I(X;Z) sandwich")
ax.plot([p["distortion_coded"] for p in points], [p["rate_coded"] for p in points], "x", color="k", label="codec ANS bitstream")
ax.set_xscale("log")
ax.set_xlabel("D (squared error per sample)")
ax.set_ylabel("rate (bits per sample)")
ax.set_title("mixture 0.5 N(-1.5, 0.25) + 0.5 N(1.5, 0.25)")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdicts, computed from the numbers

# %%
# The gap target: the full settings reach a few hundredths of a bit (README: <= 0.063 bit); a
# loose 0.25 bit bound still catches a broken codec without failing on finite training.
GAP_BOUND = 0.25
verdicts = {
    "no rate below the certified lower bound (no violations)": all(not p["violations"] for p in points),
    "I(X;Z) sandwich not below the lower bound": all(p["mi_upper_ci"][1] >= p["rd_lower"] for p in points),
    "certified bracket narrower than 0.01 bit": bool(np.max(upper - lower) < 0.01),
    "BA on the histogram certified (gap <= tol)": all(pt.converged for pt in ba),
    f"E KL - R(D) below {GAP_BOUND} bit": all(p["gap"] <= GAP_BOUND for p in points),
    "gap = prior mismatch + channel loss": all(abs(p["gap"] - p["gap_prior"] - p["gap_channel"]) < 1e-9 for p in points),
    "bitstream decodes exactly": all(p["decoded_exactly"] for p in points),
}
for k, v in verdicts.items():
    print(f"{'PASS' if v else 'FAIL'}  {k}")
print("gap (bits) per beta:", {p["beta"]: round(float(p["gap"]), 4) for p in points})
print("of which prior mismatch:", {p["beta"]: round(float(p["gap_prior"]), 4) for p in points},
      "test-channel loss:", {p["beta"]: round(float(p["gap_channel"]), 4) for p in points})
assert all(verdicts.values()), {k: v for k, v in verdicts.items() if not v}

# %% [markdown]
# **Verdict.** Every rate the codec reports stays above the certified lower bound, so nothing
# contradicts the theory; the codec sits above R(D) by the printed gap, split (printed above)
# into prior mismatch E KL − I(X;Z) and test-channel loss I(X;Z) − R(D). A positive channel loss
# is the price of a flow test channel on a bimodal source, whose optimal test channel is not of
# the form f(x) + Gaussian noise.
