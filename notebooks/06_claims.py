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
# # 06 · An audit of FlowCodec's own claims
#
# **What is checked.** Eight statements from the FlowCodec design, each tested with numbers by
# `analysis.claims` (the same code as `python -m analysis.claims`):
#
# 1. `q(z|x) = N(f(x), sigma^2 I) |det df/dx|^-1` is the conditional density of the latent;
# 2. `I(x;z) = E[log q(z|x)/p(z)]` with p the prior;
# 3. `R(beta) = sup_x (beta KL(q(z|x)||p(z)) + Dist(x, x_hat))` bounds the achievable rate;
# 4. `H(z) ~ n/2 log(2 pi sigma^2) + ||eps||^2/(2 sigma^2) - log|det df/dx|` is the entropy of z;
# 5. binning at width Delta gives `R ~ (n/d) log2(1/Delta) + beta KL`;
# 6. beta sets the slope dR/dD = -1/beta at the optimum, and so the mutual information retained;
# 7. without quantization the forward pass is faster than a quantized codec's;
# 8. FlowCodec achieves better rate-distortion than quantization-based codecs (real bytes at matched D,
#    against uniform, ntc, ecvq and ectcq; `analysis.codec_compare`).
#
# Each verdict (holds / holds under stated conditions / does not hold) is computed from measured
# numbers against tolerances of 5 standard errors (plus stated slack for finite training), on
# FlowCodecs trained on N(0, 1) (several betas) and on N(0, diag(4, 1, 0.25, 0.0625)); sympy
# checks the units, normalisations and scalings. Rates are in **bits**, slopes in nats per unit
# distortion (-1/beta is defined with the rate in nats).
#
# **Settings.** `IBFLOW_NOTEBOOK_QUICK=1` runs `ClaimsSettings.quick_settings()` (the `--quick`
# of the command line, about half a minute); otherwise the defaults (a few minutes).

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

from analysis.claims import CONDITIONAL, FAILS, VERDICTS, ClaimsSettings, format_table, run_claims
from contracts.stats import Z_95

QUICK = os.environ.get("IBFLOW_NOTEBOOK_QUICK", "0") == "1"
# Training runs in spawned worker processes from a kernel; a plain script (python notebooks/06_claims.py)
# has no __main__ guard for them, so it trains in one process.
JOBS = 1 if QUICK or "__file__" in globals() else min(2, os.cpu_count() or 1)
settings = ClaimsSettings.quick_settings(jobs=JOBS) if QUICK else ClaimsSettings(jobs=JOBS)
results, trained = run_claims(settings)
by = {r.number: r for r in results}
print(format_table(results))

# %% [markdown]
# ## Figures, one panel per claim

# %%
BITS = 1 / math.log(2)
fig, axes = plt.subplots(2, 4, figsize=(18, 8))
ax = axes.flat

# 1: histogram of z given x against both formulas
h = by[1].evidence["histograms"][-1]
edges = np.asarray(h["edges"])
ax[0].stairs(h["counts"], edges, color="k", label="z ~ codec, x fixed")
ax[0].stairs(h["expected_corrected"], edges, color="C0", ls="--", label="N(f(x), s^2) (corrected)")
ax[0].stairs(h["expected_stated"], edges, color="C3", ls=":", label="N(f(x), s^2) |det df/dx|^-1 (stated)")
ax[0].set_title(f"1: q(z|x) at x = {h['x']:g}")
ax[0].set_xlabel("z")
ax[0].set_ylabel("counts per bin")
ax[0].legend(fontsize=7)

# 2: E log q/p for two priors against the I(X;Z) sandwich
e2 = by[2].evidence
lo, up = e2["mi_sandwich_bits"]
vals = [e2["e_kl_trained_prior_bits"], e2["e_kl_unit_prior_bits"]]
errs = [Z_95 * e2["e_kl_trained_prior_se_bits"], Z_95 * e2["e_kl_unit_prior_se_bits"]]
ax[1].bar([0, 1], vals, yerr=errs, color=["C0", "C1"], capsize=4)
ax[1].axhspan(lo, up, color="C2", alpha=0.4, label=f"I(X;Z) sandwich [{lo:.3f}, {up:.3f}]")
ax[1].set_xticks([0, 1], ["trained prior", "prior N(0, I)"])
ax[1].set_ylabel("E log q(z|x)/p(z)  (bits)")
ax[1].set_title("2: E log q/p = I + KL(q(z)||p)")
ax[1].legend(fontsize=7)

# 3: beta KL_x + Dist_x on an x grid and the running sample sup, against the mean
e3 = by[3].evidence
ax[2].semilogy(e3["x_grid_sd"], e3["lagrangian_on_x_grid"], "o-", label="beta KL(q(z|x)||p) + Dist(x)")
ax[2].axhline(e3["mean_lagrangian"], color="C2", label=f"mean = D + beta R = {e3['mean_lagrangian']:.3f}")
ax[2].axhline(e3["optimal_lagrangian"], color="k", ls=":", label="min_D D + beta R(D)")
ax[2].set_xlabel("x (source standard deviations)")
ax[2].set_title("3: the sup over x is unbounded")
ax[2].legend(fontsize=7)

# 4: the stated "entropy" against h(Z) and its parts
e4 = by[4].evidence
labels = ["stated", "h(Z|X)", "h(Z) quad.", "h(Z) sandwich", "E -log p(z)", "h(f(X))"]
vals = [e4["claimed_mean_bits"], e4["h_z_given_x_bits"], e4["h_z_quadrature_bits"],
        float(np.mean(e4["h_z_sandwich_bits"])), e4["h_z_cross_entropy_upper_bits"], e4["h_fx_formula_bits"]]
ax[3].bar(range(len(vals)), vals, color=["C3", "0.6", "C0", "C2", "C1", "0.4"])
ax[3].set_xticks(range(len(vals)), labels, rotation=30, fontsize=8)
ax[3].set_ylabel("bits")
ax[3].set_title("4: the stated H(z) is not h(Z)")

# 5: code length against bin width: bitstream, high-resolution formula, stated formula
e5 = by[5].evidence
for rows, name, c in ((e5["gaussian_rows"], "1-D", "C0"), (e5["vector_rows"], "4-D", "C1")):
    rs = [r for r in rows if r["delta"] != "matched"]
    d = [r["delta"] for r in rs]
    ax[4].plot(d, [r["coded_bits"] for r in rs], "o-", color=c, label=f"{name} ANS bitstream")
    ax[4].plot(d, [r["high_resolution_bits"] for r in rs], "x--", color=c, label=f"{name} E[-log2 N(u)] + sum log2(1/Delta)")
    ax[4].plot(d, [r["claimed_nats_kl"] for r in rs], "s:", color=c, mfc="none", label=f"{name} stated (n/d)log2(1/Delta) + beta KL")
ax[4].set_xscale("log")
ax[4].set_xlabel("bin width Delta (base space)")
ax[4].set_ylabel("bits per sample")
ax[4].set_title("5: binned rate")
ax[4].legend(fontsize=6)

# 6: R(D) points with tangents of slope -1/beta (rate in nats)
e6 = by[6].evidence
d = np.geomspace(0.03, 1.0, 200)
ax[5].plot(d, 0.5 * np.log(settings.variance / d), "k-", lw=1, label="R(D) (nats)")
for p in e6["points"]:
    D, R, b = p["distortion"], p["rate_nats"], p["beta"]
    ax[5].plot(D, R, "o", color="C0")
    dd = np.array([-0.08, 0.08])
    ax[5].plot(D + dd, R - dd / b, color="C3", lw=1.5)
ax[5].set_xscale("log")
ax[5].set_xlabel("D")
ax[5].set_ylabel("E KL (nats)")
ax[5].set_title("6: tangents of slope -1/beta at each trained codec")
ax[5].legend(fontsize=7)

# 7: timing
e7 = by[7].evidence
med = e7["median_us_per_sample"]
ops = ["forward", "encode_bits", "decode_bits"]
x = np.arange(len(ops))
ax[6].bar(x - 0.2, [med[f"flow_{o}"] for o in ops], 0.4, label="FlowCodec")
ax[6].bar(x + 0.2, [med[f"quant_{o}"] for o in ops], 0.4, label="quantized (same size)")
ax[6].set_xticks(x, ["forward", "encode+ANS", "ANS+decode"])
ax[6].set_ylabel("microseconds per sample (1 thread)")
ax[6].set_title(f"7: time ratio flow/quantized, forward {e7['forward_ratio_flow_over_quantized']['ratio']:.2f}")
ax[6].legend(fontsize=7)

ax[7].axis("off")
ax[7].text(0, 1, "\n".join(f"{r.number}: {r.verdict}" for r in results), va="top", fontsize=11, family="monospace")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checks that must hold (they fail the notebook otherwise)
#
# The numbers the verdicts rest on: the symbolic checks, normalisations, the identity
# E KL = I + KL(q(z)||p), the corrected entropy and binned-rate formulas agreeing with the
# measurements, and the chord slopes of claim 6. Claims 1–5 are mathematical statements, so their
# verdicts are asserted; claim 6 depends on training reaching the optimum and claim 7 on the
# machine, so for those only the verdict's validity is asserted (the numbers are printed).

# %%
checks = {}
checks["symbolic checks pass"] = all(r.evidence["symbolic_checks_pass"] for r in results)
e1 = by[1].evidence
checks["1: corrected density integrates to 1"] = all(abs(v - 1) < 1e-6 for v in e1["integral_corrected"])
checks["1: stated density integrates to |det df/dx|^-1"] = all(
    abs(v - w) < 1e-6 * w for v, w in zip(e1["integral_stated"], e1["abs_det_inverse"]))
checks["1: the Jacobian formula fits the density of f(X)"] = e1["pushforward_p"] > 1e-4
checks["2: E KL >= I (both priors)"] = all(v + 5 * s >= e2["mi_sandwich_bits"][0] - 5 * e2["mi_sandwich_se_bits"][0]
                                          for v, s in ((e2["e_kl_trained_prior_bits"], e2["e_kl_trained_prior_se_bits"]),
                                                       (e2["e_kl_unit_prior_bits"], e2["e_kl_unit_prior_se_bits"])))
checks["2: identity E KL = I + KL(q(z)||p)"] = abs(e2["identity_residual_unit_bits"]) < 5 * e2["e_kl_unit_prior_se_bits"] + 1e-3 * BITS
lo4, up4 = e4["h_z_sandwich_bits"]
checks["4: h(Z) by quadrature inside h(Z|X) + sandwich"] = lo4 - 0.01 <= e4["h_z_quadrature_bits"] <= up4 + 0.01
checks["4: h(f(X)) = h(X) + E log|det| (kNN within 0.05 bit)"] = abs(e4["h_fx_formula_bits"] - e4["h_fx_knn_bits"]) < 0.05
for name, err in e5["errors_at_smallest_delta"].items():
    checks[f"5: high-resolution formula matches the {name} bitstream"] = abs(err["high_resolution_error_bits"]) < 5 * err["se_bits"] + 0.05
checks["5: bitstreams decode exactly"] = all(r["decoded_exactly"] for r in e5["gaussian_rows"] + e5["vector_rows"])
checks["6: chords within [-1/beta_a, -1/beta_b]"] = all(c["within_bracket"] for c in e6["chords"])
checks["7: both bitstreams decode"] = e7["decoded_exactly"]
expected = {1: FAILS, 2: CONDITIONAL, 3: FAILS, 4: FAILS, 5: FAILS}
for n, v in expected.items():
    checks[f"verdict {n}: {v}"] = by[n].verdict == v
checks["verdicts 6, 7 valid"] = by[6].verdict in VERDICTS and by[7].verdict in VERDICTS
for k, v in checks.items():
    print(f"{'PASS' if v else 'FAIL'}  {k}")
assert all(checks.values()), {k: v for k, v in checks.items() if not v}

# %% [markdown]
# **Verdict.** Claims 1, 3, 4 and 5 do not hold as stated (wrong density, a sup where an average
# belongs, a per-sample code length with a spurious Jacobian in place of an entropy, a formula that
# adds a distortion to a rate); claim 2 holds only when the prior equals the latent's marginal
# (otherwise it is an upper bound); claim 6 holds at the optimum of a well-trained codec for
# beta < 2 s2; claim 7's verdict follows the measured time ratio FlowCodec / same-size quantized
# codec printed in the table above (a ratio above 1 means FlowCodec is slower; rounding itself is
# a negligible share of the quantized forward pass); claim 8's verdict compares real bitstreams at
# matched distortion (printed in the table). The corrected statements are in the table.
