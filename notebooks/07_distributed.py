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
# # 07 · Distributed source coding: Wyner–Ziv and two encoders, against their limits
#
# **What is checked.**
#
# 1. **The references.** The Gaussian Wyner–Ziv function equals the conditional R_{X|Y}(D), computed
#    here from the Schur complement of the joint covariance; the two-terminal sum rate
#    (`synthetic.distributed.two_terminal_sum_rate`, Wagner, Tavildar & Viswanath 2008, Thm 1, with the
#    slack-constraint cases) agrees with a brute-force search over the Berger–Tung noise variances.
# 2. **A certified non-Gaussian table.** For the doubly symmetric binary source the alternating
#    minimisation of Dupuis, Yu & Willems (2004) with its Frank–Wolfe lower bound brackets the
#    closed form of Wyner & Ziv (1976); for side information through a BSC and then an erasure
#    channel (no closed form) the bracket is the answer.
# 3. **The Wyner–Ziv FlowCodec** (`python -m analysis.distributed --setting wyner-ziv`): its E KL lies on
#    R_WZ(D), within the 0.02 bit, never below beyond its interval; the I(X;Z|Y) sandwich holds
#    it; the real bitstream (binning) lies above R_WZ and, where it codes, below R(D) without side
#    information.
# 4. **The two-terminal FlowCodec** (`--setting two-terminal`): its sum rate lies within 0.05 bit of
#    the Berger–Tung optimum at the (D1, D2) it reaches.
#
# **Settings.** `IBFLOW_NOTEBOOK_QUICK=1`: rho = 0.9, beta = 0.1, 600 training steps at lr 0.02, 2^15
# test rows; otherwise rho in {0.5, 0.9}, four betas, the command's defaults. Rates in **bits**.

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
import torch

from analysis.distributed import DistributedSettings, run_study
from ibflow import TrainConfig
from synthetic.distributed import (
    two_terminal_sum_rate,
    two_terminal_sum_rate_search,
    wyner_ziv_binary_rd,
    wyner_ziv_blahut_arimoto,
    wyner_ziv_gaussian_rd,
)

QUICK = os.environ.get("IBFLOW_NOTEBOOK_QUICK", "0") == "1"
torch.set_num_threads(1)  # small models: more threads only spin against other jobs
BITS = 1 / math.log(2)

# %% [markdown]
# ## 1. The Gaussian references, computed another way

# %%
for rho in (0.5, 0.9):
    cov = np.array([[1.0, rho], [rho, 1.0]])
    schur = cov[0, 0] - cov[0, 1] ** 2 / cov[1, 1]  # Var(X | Y)
    for D in (0.01, 0.05, 0.1):
        conditional = max(0.0, 0.5 * math.log(schur / D))  # R_{X|Y}(D), the decoder and encoder both see y
        assert abs(wyner_ziv_gaussian_rd(D, rho=rho) - conditional) < 1e-12
rows = []
for D1, D2, rho in [(0.05, 0.05, 0.9), (0.02, 0.1, 0.9), (0.1, 1.1, 0.9), (0.05, 0.2, 0.5)]:
    closed, search = two_terminal_sum_rate(D1, D2, rho), two_terminal_sum_rate_search(D1, D2, rho).sum_rate
    rows.append((D1, D2, rho, closed * BITS, search * BITS))
    print(f"D1={D1:<5} D2={D2:<5} rho={rho}: closed form {closed * BITS:.5f} bits, brute force {search * BITS:.5f} bits")
    assert abs(closed - search) < 1e-3  # the search's grid resolution (tests/synthetic/test_distributed.py)

# %% [markdown]
# ## 2. A certified Wyner–Ziv table for binary sources

# %%
HAMMING = 1 - np.eye(2)
slopes = np.geomspace(1.5, 16.0, 6 if QUICK else 12)
p = 0.25
dsbs = 0.5 * np.array([[1 - p, p], [p, 1 - p]])
binary = []
for s in slopes:
    pt = wyner_ziv_blahut_arimoto(dsbs, HAMMING, float(s))
    truth = wyner_ziv_binary_rd(min(pt.distortion, 1.0), p)
    assert pt.rate_lower - 1e-12 <= truth <= pt.rate + 1e-12, (s, pt.rate_lower, truth, pt.rate)
    binary.append((pt.distortion, pt.rate_lower * BITS, pt.rate * BITS, truth * BITS))
erasure = 0.5 * np.concatenate([0.7 * np.array([[0.9, 0.1], [0.1, 0.9]]), 0.3 * np.ones((2, 1))], axis=1)
bsec = [wyner_ziv_blahut_arimoto(erasure, HAMMING, float(s)) for s in slopes]
widest = max(pt.rate - pt.rate_lower for pt in bsec) * BITS
print(f"DSBS(p = {p}): closed form inside every certified bracket; BSC(0.1)+erasure(0.3): widest bracket {widest:.1e} bit")
assert widest < 1e-4

# %% [markdown]
# ## 3–4. The codecs

# %%
RHOS = [0.9] if QUICK else [0.5, 0.9]
BETAS = [0.1] if QUICK else [0.02, 0.05, 0.1, 0.2]
quick = dict(eval_samples=2**15, design_samples=2**12, sandwich_samples=2**12) if QUICK else {}
# quick: 600 steps need lr 0.02 for the spline encoders to shed the nonlinearity they pass through on
# their way to the linear optimum (at lr 0.01 the two-terminal gap is still 0.06 bit at step 600)
train = TrainConfig(steps=600 if QUICK else 1500, batch_size=1024, lr=2e-2 if QUICK else 1e-2, schedule="cosine", seed=0)
reports = {}
for setting in ("wyner-ziv", "two-terminal"):
    for rho in RHOS:
        settings = DistributedSettings(setting=setting, rho=rho, betas=BETAS, train=train, **quick)
        reports[setting, rho] = run_study(settings, progress=False)
        for q in reports[setting, rho]["points"]:
            print(f"{setting:>12} rho={rho} beta={q['beta']:<5} D={q['distortion']}  E KL {q['rate_kl']:.4f}  "
                  f"bound {q['bound']:.4f}  gap {q['gap']:+.4f} [{q['gap_ci'][0]:+.4f}, {q['gap_ci'][1]:+.4f}]  "
                  f"bitstream {q['rate_operational']:.3f} (err {q['coset_error_rate']:.4f})")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
grid = np.linspace(0.004, 0.4, 200)
for rho in RHOS:
    wz = reports["wyner-ziv", rho]["points"]
    line, = axes[0].plot(grid, [wyner_ziv_gaussian_rd(d, rho=rho) * BITS for d in grid], lw=1, label=f"R_WZ, rho={rho}")
    axes[0].plot([q["distortion"] for q in wz], [q["rate_kl"] for q in wz], "o", color=line.get_color(), label="E KL")
    axes[0].plot([q["distortion_operational"] for q in wz], [q["rate_operational"] for q in wz], "s", mfc="none",
                 color=line.get_color(), label="bitstream")
    tt = reports["two-terminal", rho]["points"]
    line, = axes[1].plot(2 * grid, [two_terminal_sum_rate(d, d, rho) * BITS for d in grid], lw=1,
                         label=f"Berger-Tung, D1 = D2, rho={rho}")
    axes[1].plot([sum(q["distortion"]) for q in tt], [q["rate_kl"] for q in tt], "o", color=line.get_color(), label="sum E KL")
    axes[1].plot([sum(q["distortion_operational"]) for q in tt], [q["rate_operational"] for q in tt], "s", mfc="none",
                 color=line.get_color(), label="bitstreams")
axes[0].set(xlabel="D", ylabel="bits per sample", title="Wyner-Ziv", ylim=(0, None))
axes[1].set(xlabel="D1 + D2", ylabel="bits per pair", title="two terminals", ylim=(0, None))
for ax in axes:
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %%
for (setting, rho), report in reports.items():
    assert not report["violations"], report["violations"]
    for q in report["points"]:
        # the targets: E KL within 0.02 bit of R_WZ(D), the sum rate within 0.05 bit of Berger-Tung
        assert abs(q["gap"]) <= report["gap_target_bits"], (setting, rho, q["beta"], q["gap"])
        assert q["decoded_exactly"] and q["rate_operational"] >= q["bound_operational"]
    binned = [q for q in report["points"] if q["modulus"] not in (None, 1)]
    for q in binned if rho == 0.9 else []:
        # at rho = 0.9 binning uses the decoder's side information: the coset stream costs less than the same
        # quantizer's index sent whole (for two terminals: encoder 2's stream, resolved with z1_hat). At
        # rho = 0.5 a scalar coset gains nothing: y narrows z by a factor 0.87 only, so a coset wide enough
        # to resolve is nearly as long as the whole index (the README's table)
        whole = q["rate_without_binning"] if setting == "wyner-ziv" else q["rate_without_binning"][1]
        sent = q["rate_operational"] if setting == "wyner-ziv" else q["rates_operational"][1]
        assert sent < whole, (setting, rho, q["beta"], sent, whole)
    if setting == "wyner-ziv" and rho == 0.9:
        # and at rho = 0.9 it codes below what any code without side information could at its distortion
        assert any(q["rate_operational"] < q["rate_without_side_information_operational"] for q in binned)

# %% [markdown]
# ## Verdict
#
# The Gaussian references agree with their independent computations, and the binary Wyner–Ziv
# function sits inside the certified brackets. The FlowCodecs' E KL lands on R_WZ(D) and on the
# Berger–Tung sum rate within the targets, never below beyond the interval (no VIOLATION). The real
# bitstreams pay for scalar quantization and scalar cosets: they stay well above the limits (see the
# table of `python -m analysis.distributed` and the README). At rho = 0.9 binning uses the side
# information: each coset stream costs less than its quantizer's index sent whole, and the Wyner–Ziv
# stream codes below what any code without side information could at the same distortion. At
# rho = 0.5 a scalar coset code gains nothing over sending the index whole.
