"""From fitted points and dual lines to bounds on R(D) at requested distortions, with intervals.

Upper: each fitted channel is an achievable point (D_k, R_k); R(D) is convex and non-increasing, so
time-sharing and monotonicity give R(D) <= the lower convex envelope of the points, taken
non-increasing (with the point (D_max, 0): rate 0 at the variance, the decoder outputting the
mean). Lower: each dual line R(D) >= F_k - lambda_k D holds at every D, and so does 0; their
maximum is convex and non-increasing too.

Intervals (normal, ``z`` standard errors, pointwise): the upper bound's low end is the envelope of
R_k - z se(R_k) at the D_k; its high end the envelope of R_k + z se(R_k) placed at D_k + z se(D_k),
so that it also covers a point whose true distortion lies above the measured one. The lower bound's
are the lines' intercepts moved by -+z se.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from estimators.rd.dual import DualLine
from estimators.rd.upper import UpperPoint

__all__ = ["BoundAtD", "lower_bounds", "time_sharing_envelope", "upper_bounds"]


@dataclass(frozen=True)
class BoundAtD:
    """A bound on R(D) at one D (nats) with its interval and the method(s) that gave it."""

    value: float
    ci: tuple[float, float]
    method: str


def time_sharing_envelope(Ds: np.ndarray, Rs: np.ndarray, D: float) -> tuple[float, tuple[int, ...]]:
    """The non-increasing lower convex envelope of achievable points (Ds, Rs) at D, and the points used.

    It is the least of R_k over points with D_k <= D (R(D) is non-increasing) and of the chords
    between pairs D_a <= D <= D_b (time-sharing; R(D) is convex): an upper bound on R(D) wherever
    every point is achievable (Cover & Thomas 2nd ed., Lemma 10.4.1).

    Example:
        >>> time_sharing_envelope(np.array([1.0, 3.0]), np.array([2.0, 0.0]), 2.0)
        (1.0, (0, 1))
        >>> time_sharing_envelope(np.array([1.0, 3.0]), np.array([2.0, 0.0]), 0.5)  # below every point
        (inf, ())
    """
    best, used = np.inf, ()
    left = np.flatnonzero(Ds <= D)
    for k in left:
        if Rs[k] < best:
            best, used = float(Rs[k]), (int(k),)
    right = np.flatnonzero(Ds > D)
    for a in left:
        for b in right:
            t = (Ds[b] - D) / (Ds[b] - Ds[a])
            value = float(t * Rs[a] + (1 - t) * Rs[b])
            if value < best:
                best, used = value, (int(a), int(b))
    return best, used


def upper_bounds(
    points: Sequence[UpperPoint], distortions: Sequence[float], d_max: float, d_max_se: float, z: float = 1.96
) -> list[BoundAtD]:
    """The upper bound at each D from the achievable points and the rate-0 point (d_max, 0)."""
    Ds = np.array([p.distortion for p in points] + [d_max])
    Rs = np.array([p.rate for p in points] + [0.0])
    dse = np.array([p.distortion_se for p in points] + [d_max_se])
    rse = np.array([p.rate_se for p in points] + [0.0])
    names = [p.method for p in points] + ["zero-rate"]
    out = []
    for D in distortions:
        value, used = time_sharing_envelope(Ds, Rs, D)
        low, _ = time_sharing_envelope(Ds, Rs - z * rse, D)
        high, _ = time_sharing_envelope(Ds + z * dse, Rs + z * rse, D)
        method = "+".join(sorted({names[k] for k in used})) if used else "none"
        out.append(BoundAtD(value, (low, high), method))
    return out


def lower_bounds(lines: Sequence[DualLine], distortions: Sequence[float], z: float = 1.96) -> list[BoundAtD]:
    """The lower bound at each D: the best reliable dual line there (:attr:`DualLine.reliable`), or 0."""
    lines = [line for line in lines if line.reliable]
    out = []
    for D in distortions:
        values = [line.at(D) for line in lines]
        low = max([0.0] + [line.at(D, -z) for line in lines])
        high = max([0.0] + [line.at(D, z) for line in lines])
        k = int(np.argmax(values)) if values else -1
        if k < 0 or values[k] <= 0:
            out.append(BoundAtD(0.0, (low, high), "zero"))
        else:
            out.append(BoundAtD(values[k], (low, high), f"dual(lambda={lines[k].lam:.4g})"))
    return out
