"""The 2-D banana of nonlinear transform coding: a sheared, rotated Gaussian with an exact density.

Ballé, Chou, Minnen, Singh, Johnston, Agustsson, Hwang & Toderici, "Nonlinear Transform Coding",
IEEE JSTSP 15(2), 2021 (their 2-D "banana" toy source), as defined in the toy-sources
notebook of tensorflow_compression (and mandt-lab/RD-sandwich ``ntc_sources.py``):
``TransformedDistribution(Normal([0, 0], [3, .5]), Invert(Chain([RealNVP(num_masked=1,
shift=.1 y1^2), ScaleMatvec(rotation(240)), Shift([1, 1])])))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy import special

from synthetic.checks import check_sample_count
from synthetic.rd_curve import RDCurve
from synthetic.registry import register_source
from synthetic.sources.base import torch_generator
from synthetic.sources.tabulated import CertifiedTableSource
from synthetic.tables import certified_curve, default_jobs, with_midpoints

__all__ = [
    "BANANA_TABLE_D",
    "BANANA_TABLE_N",
    "BANANA_TABLE_TAIL",
    "BANANA_TABLE_TOL_BITS",
    "BananaOptions",
    "BananaSource",
    "build_banana_curve",
]


class BananaSource(CertifiedTableSource):
    """x = B^{-1}(y), y ~ N(0, diag(s1^2, s2^2)), with B(x) = shear(R (x + shift)).

    ``R`` is the rotation by ``angle_deg`` ([[cos, -sin], [sin, cos]]) and ``shear(u) = (u1, u2 + c u1^2)``
    with c the ``curvature`` (TFP's Chain applies right to left, so the shift acts first), hence
    ``x = R^T (y1, y2 - c y1^2) - shift``. Every step has unit Jacobian, so
    ``log p(x) = log N(B(x); 0, diag(s1^2, s2^2))`` exactly and ``h(X) = h(Y) = log(2 pi e s1 s2)``.
    The moments are exact too: with u = (y1, y2 - c y1^2), E u = (0, -c s1^2),
    Cov u = diag(s1^2, s2^2 + 2 c^2 s1^4) (E y1^4 = 3 s1^4), and Cov X = R^T Cov u R.

    R(D) has no closed form: it is bracketed by a certified Blahut-Arimoto table
    (:mod:`synthetic.rd_curve`; shipped for the defaults, built and cached for other parameters)
    intersected with the Shannon lower bound and the Gaussian upper bound.

    Example:
        >>> src = BananaSource()
        >>> round(float(src.variance().sum()), 4)  # 9 + 0.25 + 0.01 * 2 * 81
        10.87
        >>> round(src.differential_entropy(), 6)  # log(2 pi e * 3 * 0.5)
        3.243342
        >>> y = src.to_base(src.sample(100_000, seed=0))  # back in the base space: N(0, diag(9, 0.25))
        >>> [round(float(v), 1) for v in y.std(0)]
        [3.0, 0.5]
    """

    name = "banana"
    table_name = "banana"
    dim = 2

    def __init__(
        self,
        scales: ArrayLike = (3.0, 0.5),
        curvature: float = 0.1,
        angle_deg: float = 240.0,
        shift: ArrayLike = (1.0, 1.0),
    ):
        s = np.asarray(scales, dtype=np.float64)
        if s.shape != (2,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError(f"scales must be two finite numbers > 0, got {scales!r}")
        c, angle = float(curvature), float(angle_deg)
        if not math.isfinite(c):
            raise ValueError(f"curvature must be a finite real number, got {curvature!r}")
        if not math.isfinite(angle):
            raise ValueError(f"angle_deg must be a finite real number (degrees), got {angle_deg!r}")
        t = np.asarray(shift, dtype=np.float64)
        if t.shape != (2,) or not np.all(np.isfinite(t)):
            raise ValueError(f"shift must be two finite numbers, got {shift!r}")
        self.scales, self.curvature, self.angle_deg, self.shift = s, c, angle, t
        phi = math.radians(angle)
        self.rotation = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])

    def params(self) -> dict[str, Any]:
        return {
            "scales": self.scales.tolist(),
            "curvature": self.curvature,
            "angle_deg": self.angle_deg,
            "shift": self.shift.tolist(),
        }

    def to_base(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        """B(x): the base-space point y (float64) whose image is x."""
        x = torch.as_tensor(x, dtype=torch.float64)
        u = (x + torch.from_numpy(self.shift)) @ torch.from_numpy(self.rotation).T
        return torch.stack([u[:, 0], u[:, 1] + self.curvature * u[:, 0] ** 2], -1)

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = check_sample_count(n)
        y = torch.randn(n, 2, generator=torch_generator(seed), dtype=torch.float64) * torch.from_numpy(self.scales)
        u = torch.stack([y[:, 0], y[:, 1] - self.curvature * y[:, 0] ** 2], -1)
        # x = R^{-1} u - shift and R^{-1} = R^T, i.e. x = u R (row vectors)
        x = u @ torch.from_numpy(self.rotation) - torch.from_numpy(self.shift)
        return x.to(dtype)

    def log_density_np(self, x: np.ndarray) -> np.ndarray:
        """log p(x) in nats on a float64 array of shape (n, 2) (the density tables are built from)."""
        x = np.asarray(x, dtype=np.float64)
        u = (x + self.shift) @ self.rotation.T
        y = np.stack([u[:, 0], u[:, 1] + self.curvature * u[:, 0] ** 2], -1) / self.scales
        return -0.5 * (y**2).sum(-1) - math.log(2 * math.pi * self.scales.prod())

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.from_numpy(self.log_density_np(x.numpy()))

    def covariance(self) -> np.ndarray:
        s1, s2 = self.scales**2
        cov_u = np.diag([s1, s2 + 2.0 * self.curvature**2 * s1**2])
        return self.rotation.T @ cov_u @ self.rotation

    def mean(self) -> np.ndarray:
        """E X = R^T (0, -c s1^2) - shift."""
        return self.rotation.T @ np.array([0.0, -self.curvature * self.scales[0] ** 2]) - self.shift

    def differential_entropy(self) -> float:
        return float(math.log(2 * math.pi * math.e * self.scales.prod()))

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """The bounding box of the image of the base box |y_i| <= z s_i, with 4 Phi(-z) = ``tail``.

        Proof of the mass: B is a bijection, so P(X outside the box) <= P(Y outside the base box)
        <= P(|y1| > z s1) + P(|y2| > z s2) = 4 Phi(-z) (union bound). The image is the sheared
        strip u in {|u1| <= a, |u2 + c u1^2| <= b} (a = z s1, b = z s2) mapped by u -> R^T u - shift,
        so each coordinate's extremes are those of a linear form w.u over it: for fixed u1 the best
        u2 is -c u1^2 + sign(w2) b, leaving a quadratic in u1 whose maximum on [-a, a] lies at an
        end or at its vertex; the box is exact, not an outer estimate.
        """
        if not 0 < tail < 1:
            raise ValueError(f"tail must lie in (0, 1), got {tail!r}")
        z = -float(special.ndtri(tail / 4))  # ndtri: accurate far in the tail
        a, b = z * self.scales[0], z * self.scales[1]
        c = self.curvature

        def largest(w: np.ndarray) -> float:
            # max over the strip of w1 u1 + w2 u2 = w1 u1 - w2 c u1^2 + |w2| b
            cand = [-a, a]
            k = 2 * w[1] * c
            if k != 0 and abs(w[0]) <= a * abs(k):  # the vertex w1 / k lies in [-a, a]
                cand.append(float(w[0] / k))
            return max(w[0] * u - w[1] * c * u * u + abs(w[1]) * b for u in cand)

        # x_k = sum_j R[j, k] u_j - shift_k: the form is column k of R
        hi = np.array([largest(self.rotation[:, k]) for k in range(2)]) - self.shift
        lo = np.array([-largest(-self.rotation[:, k]) for k in range(2)]) - self.shift
        return lo, hi

    def build_table(self) -> RDCurve:
        return build_banana_curve(self)


# The table's box leaves out at most 1e-6 of the mass (z = 5.03: a 32 x 31 box for the defaults).
# A looser box costs at small D (tail 1e-4 raised the upper bound at D = 0.05 by 0.04 nats), and
# the ring beyond it is handled by the certificate's Zt = 1 candidate (synthetic.ba.continuous).
BANANA_TABLE_TAIL = 1e-6
# BA cells per dimension: h = 0.17 on the default box, a third of the banana's narrow width 0.5;
# the certificates' own brackets shrink with h (at D = 0.5: 0.055 / 0.011 / 0.007 bit at 96 /
# 192 / 256 cells), and 192 keeps one certificate near a minute.
BANANA_TABLE_N = 192
# The certificates' D, in units of the total variance (10.87 for the defaults): ratio 1.31 from
# D = 0.03 to 0.2, where the Shannon lower bound is tight (within 1e-3 bit) and only the upper
# chords count, ratio 1.145 from 0.2 to 3.0, where codecs are audited (1-3 bits is D ~ 0.4-3),
# then four points up to 0.98 of it. Between two certificates the bracket widens by about
# (log ratio)^2 / 8 nats on each side (tangent lines below, time-sharing chords above).
BANANA_TABLE_D = tuple(
    float(d)
    for d in np.concatenate([with_midpoints(np.geomspace(0.03, 3.0, 18), start=0.19), [4.2, 6.0, 8.5, 10.65]]) / 10.87
)

# The discrete BA gap: 1e-4 bit took 8x the time of 1e-3 at D = 2 for 7e-4 bit of bracket, while
# 1e-3 left the output's tails unconverged in the Laplace pair's table (0.04 nats off the lower
# bound at D = 0.5); 3e-4 is the compromise.
BANANA_TABLE_TOL_BITS = 3e-4


def build_banana_curve(source: BananaSource, progress: bool = True, jobs: int | None = None) -> RDCurve:
    """Certify the R(D) table of a banana on its ``BANANA_TABLE_TAIL`` box, in ``jobs`` processes
    (default: up to 4 cores): 32 certificates, about 25 minutes on 2 cores (:mod:`synthetic.make_tables`)."""
    d_max = float(source.variance().sum())
    return certified_curve(
        source,
        d_max,
        tail=BANANA_TABLE_TAIL,
        d_grid=np.asarray(BANANA_TABLE_D) * d_max,
        n=BANANA_TABLE_N,
        tol_bits=BANANA_TABLE_TOL_BITS,
        jobs=default_jobs() if jobs is None else jobs,
        progress=progress,
    )


@dataclass(frozen=True)
class BananaOptions:
    """Parameters of ``banana``; the defaults are Ballé et al.'s source (the shipped table's)."""

    scales: tuple[float, float] = field(default=(3.0, 0.5), metadata={"help": "base standard deviations (s1, s2)"})
    curvature: float = field(default=0.1, metadata={"help": "shear c in u2 + c u1^2"})
    angle_deg: float = field(default=240.0, metadata={"help": "rotation angle, degrees"})
    shift: tuple[float, float] = field(default=(1.0, 1.0), metadata={"help": "shift applied before the rotation"})


register_source("banana", options=BananaOptions, summary="2-D banana of Balle et al. 2021 (certified R(D) table)")(BananaSource)
