"""How far an operational R-D curve lies from R(D): BD-rate against R(D) itself, the mean rate wasted, the
gap at matched distortions, and the betas that put points at chosen rates (bits per sample)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts import Source

__all__ = ["CurveSummary", "distortion_at_rate", "betas_for_rates", "summarize_curve", "BITS"]

BITS = 1.0 / math.log(2)


def distortion_at_rate(source: Source, rate_bits: float, d_max: float) -> float:
    """The D where the midpoint of the source's R(D) bracket equals ``rate_bits`` bits per sample, by
    bisection in log D on (d_max * 1e-9, d_max) (R(D) is nonincreasing, so the root is unique up to the
    bracket's width).

    Example:
        >>> from synthetic import get_source
        >>> round(distortion_at_rate(get_source("gaussian"), 1.0, 1.0), 6)  # R(D) = 1/2 log2(1/D) = 1 bit
        0.25
    """
    if not rate_bits > 0:
        raise ValueError(f"rate_bits must be > 0, got {rate_bits}")
    lo, hi = math.log(d_max * 1e-9), math.log(d_max)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if source.rate_distortion(math.exp(mid)).mid * BITS > rate_bits:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def betas_for_rates(source: Source, rates_bits: Sequence[float], d_max: float) -> list[float]:
    """For each target rate, the beta whose Lagrangian D + beta R is stationary on R(D) there:
    beta = -1 / R'(D) (R in nats), by a central difference. A codec close to R(D) then lands near
    that rate; any codec lands on the point of its own curve with the same slope.

    Example:
        >>> from synthetic import get_source
        >>> [round(b, 4) for b in betas_for_rates(get_source("gaussian"), [1.0, 2.0], 1.0)]  # beta = 2 D
        [0.5, 0.125]

    Rates where the source's bracket is not finite (bounds estimated from data cover only their D
    grid: above its highest rate the upper bound is unknown) are skipped, and a beta two targets share
    is kept once, so the list may be shorter than ``rates_bits``.
    """
    betas: list[float] = []
    for r in rates_bits:
        D = distortion_at_rate(source, r, d_max)
        h = 1e-3 * D
        right, left = source.rate_distortion(D + h).mid, source.rate_distortion(D - h).mid
        if not (math.isfinite(right) and math.isfinite(left)):
            continue  # at the edge of where the bracket is known: the bisection found its boundary, not r
        slope = (right - left) / (2 * h)
        if not slope < 0:
            raise ValueError(f"R(D) is flat at {r} bits (D = {D:.4g}): no beta reaches that rate")
        beta = round(-1.0 / slope, 6)
        if beta not in betas:
            betas.append(beta)
    return betas


@dataclass(frozen=True)
class CurveSummary:
    """One codec's distance from R(D), bits per sample.

    Attributes:
        bd_rate_percent: the Bjøntegaard delta rate (VCEG-M33, 2001) of the codec's operational curve
            against R(D) itself over the codec's own D range: 100 (exp(mean log(R_codec / R(D))) - 1), the
            percent more rate it needs at equal distortion, the mean uniform in log D. R(D) is exact, so
            only the codec's rates are interpolated (linearly in log D between its points), not fitted by
            cubics as :func:`analysis.bd_rate.bd_rate` must fit two measured curves.
        mean_gap_bits: the rate it wastes: the mean of R_codec - R(D) over that range, uniform in log D
            (trapezoids between the measured points).
        gap_at: {rate target in bits: R_codec - R(D) at the D where R(D) is that rate}, interpolated
            linearly in log D between the codec's points; None outside its range.
        d_range: (smallest, largest) operational D measured.
    """

    bd_rate_percent: float
    mean_gap_bits: float
    gap_at: dict[float, float | None]
    d_range: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "bd_rate_percent": self.bd_rate_percent,
            "mean_gap_bits": self.mean_gap_bits,
            "gap_at_rate": {f"{r:g}": g for r, g in self.gap_at.items()},
            "d_range": list(self.d_range),
        }


def summarize_curve(
    points: Sequence[dict[str, Any]], source: Source, rates_bits: Sequence[float], d_max: float
) -> CurveSummary:
    """Summarize the operational points (``distortion_operational``, ``rate_operational``,
    ``gap_operational``, bits) of one codec against ``source``'s R(D) (the bracket's midpoint).

    Example:
        >>> from synthetic import get_source
        >>> g = get_source("gaussian")
        >>> pts = [{"distortion_operational": d, "rate_operational": 0.5 * math.log2(1 / d) + 0.25,
        ...         "gap_operational": 0.25} for d in (0.02, 0.05, 0.1, 0.25)]
        >>> s = summarize_curve(pts, g, [2.0], 1.0)
        >>> round(s.mean_gap_bits, 6), round(s.gap_at[2.0], 6)
        (0.25, 0.25)
    """
    good = sorted((p for p in points if "error" not in p and p["rate_operational"] > 0),
                  key=lambda p: p["distortion_operational"])
    if len(good) < 2:
        nan = float("nan")
        return CurveSummary(nan, nan, {r: None for r in rates_bits}, (nan, nan))
    D = np.array([p["distortion_operational"] for p in good])
    R = np.array([p["rate_operational"] for p in good])
    gap = np.array([p["gap_operational"] for p in good])
    logd = np.log(D)
    mean_gap = float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(logd)) / (logd[-1] - logd[0])) if logd[-1] > logd[0] else float(gap.mean())
    # BD-rate against R(D) itself: R(D) is known at every D, so no fit is needed on its side, and the codec's
    # rates are interpolated linearly in log D (a cubic fit of a few points can cross R(D) between them)
    grid = np.linspace(logd[0], logd[-1], 257)
    rd = np.array([source.rate_distortion(float(math.exp(t))).mid * BITS for t in grid])
    codec_rate = np.interp(grid, logd, R)
    keep = rd > 1e-9  # where R(D) = 0 the ratio is undefined
    bd = float(100 * math.expm1(np.mean(np.log(codec_rate[keep] / rd[keep])))) if keep.any() else float("nan")
    gap_at: dict[float, float | None] = {}
    for r in rates_bits:
        d = distortion_at_rate(source, r, d_max)
        gap_at[r] = float(np.interp(math.log(d), logd, gap)) if D[0] <= d <= D[-1] else None
    return CurveSummary(bd, mean_gap, gap_at, (float(D[0]), float(D[-1])))
