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
# # 04 · Mutual-information estimators: bias and variance on the staircase
#
# **What is checked.** The Poole et al. (2019) staircase: x ~ N(0, I_20),
# y = rho x + sqrt(1 - rho^2) eps, with rho chosen so that I(X;Y) = -10 log(1 - rho^2) is 2, 4,
# ... nats. Each estimator in `METHODS` (`estimators.estimate_mi`, run through
# `analysis.mi_bench`'s public API so every method sees the same data per seed) is repeated over
# seeds; the notebook reports **bias** (mean − truth) and **spread** (sd across seeds) per true MI.
#
# What must hold whatever the training budget: InfoNCE is bounded by log K (K the batch size);
# NWJ and InfoNCE are lower bounds, so their held-out estimates may not sit above the truth beyond
# their own interval. KSG is biased downward once the MI is large for the sample size (Kraskov et
# al. 2004; needs samples exponential in the MI). DV and SMILE are reported, not asserted: on a
# finite test set they are not strict bounds.
#
# `doe` is the difference-of-entropies estimate (McAllester & Stratos 2020): fitted models of
# p(y) and p(y|x), an estimate rather than a bound, whose spread does not grow like e^I. Its
# bias is set by the model fit and so by the sample size: about -0.3 nats with the quick
# settings' 1200 training pairs in 20 + 20 dimensions, -0.03 with the full benchmark's 19,200.
#
# **Extending.** Add a method name to `METHODS`; the table, the figure and the checks pick it up. The list is filtered against
# `estimators.METHODS`, so a name not (yet) there is reported and skipped.
#
# **Settings.** `IBFLOW_NOTEBOOK_QUICK=1`: MI 2 and 4 nats, 2 seeds, 150 steps, 2000 pairs
# (far below Poole et al.'s 4000 steps: the biases are those of a small budget);
# otherwise 2-10 nats, 3 seeds, 1000 steps, 16000 pairs. All numbers in **nats**.

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

import estimators
from analysis.mi_bench import BenchSettings, format_table, run_grid

QUICK = os.environ.get("IBFLOW_NOTEBOOK_QUICK", "0") == "1"
METHODS = ["ksg", "dv", "nwj", "infonce", "smile", "doe"]
missing = [m for m in METHODS if m not in estimators.METHODS]
if missing:
    print(f"skipping methods not in estimators.METHODS: {missing}")
methods = [m for m in METHODS if m in estimators.METHODS]
BATCH = 64
settings = BenchSettings(
    source="staircase",
    mis=[2.0, 4.0] if QUICK else [2.0, 4.0, 6.0, 8.0, 10.0],
    methods=methods,
    seeds=[0, 1] if QUICK else [0, 1, 2],
    steps=150 if QUICK else 1000,
    batch_size=BATCH,
    samples=2000 if QUICK else 16_000,
    ksg_samples=1000 if QUICK else 4000,
    dim=20,
)
# Worker processes are spawned; a plain script (python notebooks/04_...py) has no __main__ guard for them,
# so it runs in one process; a kernel uses two.
JOBS = 1 if QUICK or "__file__" in globals() else min(2, os.cpu_count() or 1)
cells, _ = run_grid(settings, jobs=JOBS, progress=False)
print(format_table(cells, BATCH))

# %% [markdown]
# ## Figure: bias ± sd across seeds, per method and true MI

# %%
fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
for i, m in enumerate(methods):
    cs = sorted((c for c in cells if c["method"] == m), key=lambda c: c["true_mi"])
    t = np.array([c["true_mi"] for c in cs])
    off = (i - len(methods) / 2) * 0.08
    ax.errorbar(t + off, [c["mean"] for c in cs], yerr=[c["std"] or 0 for c in cs], fmt="o-", label=m, capsize=3)
    bx.errorbar(t + off, [c["bias"] for c in cs], yerr=[c["std"] or 0 for c in cs], fmt="o", label=m, capsize=3)
top = max(settings.mis)
ax.plot([0, top], [0, top], "k-", lw=1, label="truth")
ax.axhline(math.log(BATCH), color="0.4", ls="--", lw=1, label=f"log K = {math.log(BATCH):.2f}")
ax.set_xlabel("true MI (nats)")
ax.set_ylabel("estimate (nats)")
ax.legend(fontsize=7)
ax.set_title("estimates (mean ± sd over seeds)")
bx.axhline(0, color="k", lw=1)
bx.set_xlabel("true MI (nats)")
bx.set_ylabel("bias = mean - truth (nats)")
bx.set_title("bias ± sd")
bx.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdicts, computed from the numbers

# %%
# Each held-out estimate carries a t interval across test minibatches (its sampling error);
# a lower bound is "above the truth" only if that whole interval is.
verdicts = {}
for c in cells:
    m, truth = c["method"], c["true_mi"]
    if m == "infonce":
        # InfoNCE <= log K for any critic; the interval covers the test-set noise
        verdicts[f"infonce <= log K at MI {truth:g}"] = all(ci is None or ci[0] <= math.log(BATCH) for ci in c["cis"])
    if m in ("nwj", "infonce"):
        verdicts[f"{m} not above the truth at MI {truth:g}"] = all(ci is None or ci[0] <= truth for ci in c["cis"])
    verdicts[f"{m} finite at MI {truth:g}"] = all(math.isfinite(v) for v in c["values"])
    if m == "doe" and not QUICK:
        # the target: track the truth within 10 % at every step of the staircase
        verdicts[f"doe within 10 % of the truth at MI {truth:g}"] = abs(c["bias"]) <= 0.1 * truth
for k, v in verdicts.items():
    print(f"{'PASS' if v else 'FAIL'}  {k}")
print("\nbias (nats) per method and true MI:")
for m in methods:
    print(f"  {m:>8}: " + ", ".join(f"MI {c['true_mi']:g}: {c['bias']:+.2f} ± {c['std'] or 0:.2f}"
                                     for c in cells if c["method"] == m))
assert all(verdicts.values()), {k: v for k, v in verdicts.items() if not v}

# %% [markdown]
# **Verdict.** The bounds behave as bounds (InfoNCE under log K, NWJ and InfoNCE not above the
# truth beyond their intervals); bias and spread per method are in the table and figure above.
# With the quick budget every trained bound is well below the truth; the full settings show the
# published pattern (InfoNCE saturating at log K, NWJ/DV variance growing with the MI, KSG biased
# low, badly so in 20 + 20 dimensions); SMILE (tau = 5) is not a bound and can sit above the truth
# at high MI. With the full settings `doe` stays within 10 % of the truth at every step (the
# committed benchmark, `benchmarks/results/mi_bench.txt`, has it within 0.03 nats from 2 to 10).
