"""Figures for the analysis commands (seaborn style; rates in bits, distortion as squared error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

# no matplotlib.use() here: notebooks import these modules and keep their inline backend; without a
# display matplotlib falls back to Agg by itself
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from synthetic import Source

__all__ = ["plot_rd_gap", "save_figure"]

BITS = 1.0 / np.log(2)


def save_figure(fig: Any, path: str | Path) -> None:
    """Lay out ``fig``, write it to ``path`` (folders made as needed; format from the suffix), close it."""
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_rd_gap(source: Source, points: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """R(D) (or its bounds) with every measured point: E KL with its 95 % interval, the I(X;Z)
    sandwich, the binned rate and the bitstream rate. For Gaussian vectors a second panel shows
    the per-dimension rate allocation against reverse water-filling."""
    sns.set_theme(style="whitegrid", context="paper")
    per_dim = any(p.get("rate_per_dim") for p in points)
    fig, axes = plt.subplots(1, 2 if per_dim else 1, figsize=(11 if per_dim else 6, 4.2), squeeze=False)
    ax = axes[0, 0]
    d_all = [p["distortion"] for p in points] + [p["distortion_binned"] for p in points]
    total = float(np.sum(source.variance()))
    grid = np.geomspace(min(d_all) * 0.6, min(total, max(d_all) * 1.4), 60)
    bounds = [source.rate_distortion(float(d)) for d in grid]
    lo = np.array([b.lower for b in bounds]) * BITS
    up = np.array([b.upper for b in bounds]) * BITS
    if np.allclose(lo, up):
        ax.plot(grid, lo, color="black", lw=1.5, label="R(D) (exact)")
    else:
        ax.fill_between(grid, lo, up, color="0.6", alpha=0.5, label="R(D) bounds")
        ax.plot(grid, lo, color="black", lw=0.8)
    pal = sns.color_palette("deep")
    D = np.array([p["distortion"] for p in points])
    kl = np.array([p["rate_kl"] for p in points])
    kl_err = np.array([[p["rate_kl"] - p["rate_kl_ci"][0], p["rate_kl_ci"][1] - p["rate_kl"]] for p in points]).T
    ax.errorbar(D, kl, yerr=kl_err, fmt="o", color=pal[0], ms=5, capsize=3, label="E KL (95% CI)")
    for i, p in enumerate(points):
        ax.plot([p["distortion"]] * 2, [p["mi_lower"], p["mi_upper"]], color=pal[2], lw=4, alpha=0.6,
                solid_capstyle="butt", label="I(X;Z) sandwich" if i == 0 else None)
    ax.plot([p["distortion_binned"] for p in points], [p["rate_binned"] for p in points], "s", mfc="none",
            color=pal[1], ms=7, label="binned rate")
    ax.plot([p["distortion_coded"] for p in points], [p["rate_coded"] for p in points], "x", color=pal[3],
            ms=6, label="bitstream")
    for p in points:
        ax.annotate(f"β={p['beta']:g}", (p["distortion"], p["rate_kl"]), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("distortion D (squared error per sample)")
    ax.set_ylabel("rate (bits per sample)")
    ax.set_title(title or "rate-distortion")
    ax.legend(fontsize=8)
    if per_dim:
        ax2 = axes[0, 1]
        var = np.asarray(source.variance() if getattr(source, "is_diagonal", True) else source.eigenvalues)
        idx = np.arange(len(var))
        colors = sns.color_palette("viridis", len(points))
        for c, p in zip(colors, points):
            ax2.plot(idx, p["rate_per_dim_theory"], "-", color=c, lw=1.2)
            ax2.plot(idx, p["rate_per_dim"], "o", color=c, ms=5, label=f"β={p['beta']:g}")
        ax2.set_xticks(idx, [f"{v:g}" for v in var])
        ax2.set_xlabel("component variance")
        ax2.set_ylabel("rate per component (bits)")
        ax2.set_title("per-component rate: measured (dots) vs water-filling (lines)")
        ax2.legend(fontsize=7)
    save_figure(fig, path)
