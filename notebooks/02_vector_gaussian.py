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
# # 02 · The vector Gaussian: per-dimension rates against reverse water-filling
#
# **What is checked.** For independent Gaussian components with variances s2_i, the optimal
# test channel spends distortion D_i = min(theta, s2_i) on each component and rate
# R_i = 1/2 log(s2_i / D_i) (Cover & Thomas 2nd ed., Thm 10.3.3); with the Lagrangian D + beta R
# the water level is theta = beta/2 (REFERENCES.md). A FlowCodec trained on
# X ~ N(0, diag(4, 1, 0.25, 0.0625)) should discover this on its own: components above the water
# level get rate, those below get none and are reconstructed by their mean.
#
# Per component the notebook compares the measured distortion D_i with min(theta, s2_i), and
# R_i(D_i) = max(0, 1/2 log2(s2_i / D_i)) (a lower bound on the rate the codec spends on
# component i) with the water-filling rates at the same total D.
#
# **Settings.** `IBFLOW_NOTEBOOK_QUICK=1`: one beta, 300 steps, 2^14 evaluation samples;
# otherwise two betas, 800 steps, 2^18 samples. Rates in **bits per sample**.

# %%
# Import from this checkout wherever the kernel starts (jupyter lab starts it in notebooks/):
# put the repository root first on sys.path.
import sys
from pathlib import Path

ROOT = next(p for p in (Path.cwd(), *Path.cwd().parents) if (p / "ibflow" / "__init__.py").exists())
sys.path.insert(0, str(ROOT))

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from analysis.rd_gap import SweepSettings, run_sweep
from ibflow import TrainConfig

QUICK = os.environ.get("IBFLOW_NOTEBOOK_QUICK", "0") == "1"
VARIANCES = [4.0, 1.0, 0.25, 0.0625]
BETAS = [1.0] if QUICK else [0.2, 1.0]
settings = SweepSettings(
    source="gaussian-vector",
    params={"variances": VARIANCES},
    betas=BETAS,
    train=TrainConfig(steps=300 if QUICK else 800, seed=0),
    n_eval=2**14 if QUICK else 2**18,
)
# Tolerances (bits / relative): finite training dominates the sampling error here (the SE of a
# per-component rate at 2^14 samples is ~0.01 bit), so the slack is the training one.
RATE_TOL = 0.06 if QUICK else 0.03
D_TOL = 0.10 if QUICK else 0.05
points, _ = run_sweep(settings, jobs=1, progress=False)
for p in points:
    theta = p["beta"] / 2
    print(f"beta {p['beta']:g}: water level theta = {theta:g}; D = {p['distortion']:.4f} "
          f"(water-filling {p['distortion_theory']:.4f}); E KL {p['rate_kl']:.4f} bits, R(D) {p['rd_lower']:.4f} bits")
    print(f"  {'s2_i':>7} {'D_i':>8} {'min(th,s2)':>10} {'R_i(D_i)':>9} {'R_i wf':>8}")
    for s2, d, r, rt in zip(VARIANCES, p["distortion_per_dim"], p["rate_per_dim"], p["rate_per_dim_theory"]):
        print(f"  {s2:>7g} {d:>8.4f} {min(theta, s2):>10.4f} {r:>9.4f} {rt:>8.4f}")

# %% [markdown]
# ## Figure: per-component distortion and rate against water-filling

# %%
fig, axes = plt.subplots(len(points), 2, figsize=(11, 3.6 * len(points)), squeeze=False)
idx = np.arange(len(VARIANCES))
for (ax, bx), p in zip(axes, points):
    theta = p["beta"] / 2
    ax.bar(idx - 0.2, VARIANCES, 0.4, color="0.85", label="variance s2_i")
    ax.bar(idx + 0.2, p["distortion_per_dim"], 0.4, color="C0", label="measured D_i")
    ax.axhline(theta, color="C3", ls="--", label=f"water level beta/2 = {theta:g}")
    ax.set_yscale("log")
    ax.set_xticks(idx, [f"s2={v:g}" for v in VARIANCES])
    ax.set_title(f"beta = {p['beta']:g}: distortion per component")
    ax.legend(fontsize=8)
    bx.bar(idx - 0.2, p["rate_per_dim_theory"], 0.4, color="0.6", label="reverse water-filling")
    bx.bar(idx + 0.2, p["rate_per_dim"], 0.4, color="C1", label="codec R_i(D_i)")
    bx.set_xticks(idx, [f"s2={v:g}" for v in VARIANCES])
    bx.set_ylabel("bits per sample")
    bx.set_title("rate per component")
    bx.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdicts, computed from the numbers

# %%
verdicts = {}
for p in points:
    theta = p["beta"] / 2
    target = np.minimum(theta, VARIANCES)
    d = np.asarray(p["distortion_per_dim"])
    verdicts[f"beta {p['beta']:g}: D_i = min(theta, s2_i)"] = bool(np.all(np.abs(d - target) <= D_TOL * target))
    r, rt = np.asarray(p["rate_per_dim"]), np.asarray(p["rate_per_dim_theory"])
    verdicts[f"beta {p['beta']:g}: per-component rates = water-filling"] = bool(np.all(np.abs(r - rt) <= RATE_TOL))
    off = [i for i, s2 in enumerate(VARIANCES) if s2 <= theta]
    verdicts[f"beta {p['beta']:g}: components below the water level get ~0 rate"] = bool(np.all(r[off] <= RATE_TOL))
    verdicts[f"beta {p['beta']:g}: no violations, E KL - R(D) small"] = not p["violations"] and p["gap"] <= 2 * RATE_TOL
for k, v in verdicts.items():
    print(f"{'PASS' if v else 'FAIL'}  {k}")
assert all(verdicts.values()), {k: v for k, v in verdicts.items() if not v}

# %% [markdown]
# **Verdict.** The codec reproduces reverse water-filling: components whose variance is above
# the water level beta/2 are coded down to distortion beta/2 and carry the water-filling rate,
# components below it are switched off (rate ~0, distortion = their variance). The assertion
# above fails the notebook if any component leaves its tolerance.
