"""A correlated Laplace pair: two i.i.d. unit-variance Laplace components mixed by a Cholesky factor.

x = A l with l_1, l_2 i.i.d. Laplace(0, b = 1/sqrt 2) and A = [[1, 0], [rho, sqrt(1 - rho^2)]],
so Var x_i = 1 and corr(x_1, x_2) = rho. This is the *linearly mixed* Laplace (an independent
components model, Hyvärinen & Oja 2000), not the elliptical symmetric multivariate Laplace of
Kotz, Kozubowski & Podgórski (2001, Ch. 6): the latter's 2-D density is a Bessel K_0 of the
Mahalanobis norm, unbounded at the origin and with no elementary entropy, whereas here
p(x) = p_l(A^{-1} x) / |det A| is elementary, bounded (only kinks) and h(X) is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from synthetic.checks import check_sample_count
from synthetic.rd_curve import RDCurve
from synthetic.registry import register_source
from synthetic.sources.base import torch_generator
from synthetic.sources.tabulated import CertifiedTableSource
from synthetic.tables import certified_curve, default_jobs, with_midpoints

__all__ = [
    "CORRELATED_LAPLACE_TABLE_D",
    "CORRELATED_LAPLACE_TABLE_H",
    "CORRELATED_LAPLACE_TABLE_RETRY_BITS",
    "CORRELATED_LAPLACE_TABLE_TAIL",
    "CORRELATED_LAPLACE_TABLE_TOL_BITS",
    "CorrelatedLaplaceOptions",
    "CorrelatedLaplaceSource",
    "PrincipalFrame",
    "build_correlated_laplace_curve",
    "hull_of_square",
]

SCALE = 1.0 / math.sqrt(2.0)
"""Laplace scale b of each component: variance 2 b^2 = 1."""


class CorrelatedLaplaceSource(CertifiedTableSource):
    """X = A L, L two i.i.d. Laplace(0, 1/sqrt 2) components, A the Cholesky factor of [[1, rho], [rho, 1]].

    log p(x) = log p_l(A^{-1} x) - log|det A| (change of variables) and
    h(X) = h(L) + log|det A| = 2 (1 + log 2b) + 1/2 log(1 - rho^2). R(D) is bracketed by a
    certified Blahut-Arimoto table (shipped for rho = 0.8, built and cached for other rho)
    intersected with the Shannon lower bound and the Gaussian upper bound.

    Example:
        >>> src = CorrelatedLaplaceSource(0.8)
        >>> src.covariance().round(12).tolist()
        [[1.0, 0.8], [0.8, 1.0]]
        >>> round(src.differential_entropy(), 6)  # 2 (1 + log sqrt 2) + log 0.6
        2.182322
    """

    name = "correlated-laplace"
    table_name = "correlated_laplace"
    dim = 2

    def __init__(self, rho: float = 0.8):
        r = float(rho)
        if not (math.isfinite(r) and -1.0 < r < 1.0):
            raise ValueError(f"rho must lie in the open interval (-1, 1), got {rho!r}")
        self.rho = r
        self.mixing = np.array([[1.0, 0.0], [r, math.sqrt(1.0 - r * r)]])

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho}

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        n = check_sample_count(n)
        u = torch.rand(n, 2, generator=torch_generator(seed), dtype=torch.float64) - 0.5
        # inverse CDF, as LaplaceSource does; u = -0.5 exactly has probability 0 ([0, 1) values)
        lap = -SCALE * torch.sign(u) * torch.log1p(-2 * u.abs())
        return (lap @ torch.from_numpy(self.mixing).T).to(dtype)

    def log_density_np(self, x: np.ndarray) -> np.ndarray:
        """log p(x) in nats on a float64 array of shape (n, 2) (the density tables are built from)."""
        x = np.asarray(x, dtype=np.float64)
        a11, a21, a22 = self.mixing[0, 0], self.mixing[1, 0], self.mixing[1, 1]
        l1 = x[:, 0] / a11
        l2 = (x[:, 1] - a21 * l1) / a22
        return -(np.abs(l1) + np.abs(l2)) / SCALE - 2 * math.log(2 * SCALE) - math.log(a11 * a22)

    def log_prob(self, x: torch.Tensor | ArrayLike) -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.from_numpy(self.log_density_np(x.numpy()))

    def covariance(self) -> np.ndarray:
        # Cov L = 2 b^2 I = I
        return self.mixing @ self.mixing.T

    def differential_entropy(self) -> float:
        return 2 * (1.0 + math.log(2 * SCALE)) + math.log(self.mixing[0, 0] * self.mixing[1, 1])

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """The bounding box of A [-t, t]^2, t a whole number of scales b with 2 exp(-t / b) <= ``tail``.

        Proof of the mass: P(|l_i| > t) = exp(-t / b) for each component, so by the union bound
        L leaves [-t, t]^2 with probability <= 2 exp(-t / b) <= ``tail``, and X = A L leaves the
        image parallelogram, hence its bounding box |x_1| <= t, |x_2| <= (|rho| + sqrt(1 - rho^2)) t,
        with no more.
        """
        return hull_of_square(self.mixing, self.square_half_width(tail))

    def square_half_width(self, tail: float) -> float:
        """t = b ceil(log(2 / tail)): L leaves [-t, t]^2 with probability <= 2 exp(-t / b) <= ``tail``."""
        if not 0 < tail < 1:
            raise ValueError(f"tail must lie in (0, 1), got {tail!r}")
        return SCALE * math.ceil(math.log(2 / tail))

    def build_table(self) -> RDCurve:
        return build_correlated_laplace_curve(self)


class PrincipalFrame:
    """A correlated Laplace pair seen in its covariance's eigenbasis: v = Q x, Q the rotation by -45 deg.

    Squared error is invariant under an orthogonal map, so R(D) of V equals R(D) of X; the grid of
    the table is built here because the parallelogram A [-t, t]^2 holding the mass has a bounding
    box about 30 % smaller in this frame (36 x 12 instead of 21 x 30 at rho = 0.8), and its long
    side lies along a grid axis.
    """

    def __init__(self, source: CorrelatedLaplaceSource) -> None:
        self.source = source
        self.basis = np.array([[1.0, 1.0], [-1.0, 1.0]]) / math.sqrt(2.0)  # rows: the eigenvectors

    def log_density_np(self, v: np.ndarray) -> np.ndarray:
        """log p_V(v) = log p_X(Q^T v) (|det Q| = 1), on a float64 array of shape (n, 2)."""
        return self.source.log_density_np(np.asarray(v, dtype=np.float64) @ self.basis)

    def support_box(self, tail: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
        """The bounding box of Q A [-t, t]^2, t as in :meth:`CorrelatedLaplaceSource.support_box`:
        it holds that parallelogram, hence all but ``tail`` of the mass by the same union bound."""
        return hull_of_square(self.basis @ self.source.mixing, self.source.square_half_width(tail))


def hull_of_square(matrix: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The bounding box of ``matrix @ [-t, t]^2``: coordinate i spans +-t sum_j |matrix[i, j]|."""
    half = np.abs(matrix).sum(1) * t
    return -half, half


# The box leaves out at most 1e-6 of the mass (t = 15 b = 10.6). At D = 0.02 a 1e-5 box moved the
# upper bound by only 1e-4 nats (30 % faster); 1e-6 keeps the mass the grid omits far below the
# brackets, as for the banana, where 1e-4 cost the upper bound 0.04 nats at D = 0.05.
CORRELATED_LAPLACE_TABLE_TAIL = 1e-6
# Grid spacing of the BA cells in the principal frame: the certificates' brackets shrink with it
# (at D = 0.2, 0.015 / 0.007 / 0.003 bit at h = 0.14 / 0.106 in the x frame / 0.106 here).
CORRELATED_LAPLACE_TABLE_H = 0.13
# The certificates' D (total variance 2): ratio 1.32 from 0.015 to 0.075, where the Shannon lower
# bound is within ~0.005 bit of R(D) and only the upper chords count, ratio 1.15 from there to
# 0.7, where codecs are audited (1-3 bits is D ~ 0.13-0.5, 6 bits ~ 0.02), then four points up
# to 0.98 of it.
CORRELATED_LAPLACE_TABLE_D = tuple(
    float(d)
    for d in np.concatenate([with_midpoints(np.geomspace(0.015, 0.7, 15), start=0.075), [0.95, 1.3, 1.65, 1.96]])
)
# The discrete BA gap: at 1e-3 bit the unconverged output tails cost the lower bound 0.04 nats at
# D = 0.5; 3e-4 bit is within 1e-4 nats of 1e-4 bit there, at 40 % of the time. It is not always
# enough (0.07 nats lost at D = 0.95), so certificates wider than 0.05 bit are solved again at
# 1e-4 bit (the narrow ones at small D are limited by the grid, and the SLB is tight there).
CORRELATED_LAPLACE_TABLE_TOL_BITS = 3e-4
CORRELATED_LAPLACE_TABLE_RETRY_BITS = 0.05


def build_correlated_laplace_curve(
    source: CorrelatedLaplaceSource, progress: bool = True, jobs: int | None = None
) -> RDCurve:
    """Certify the R(D) table of a correlated Laplace pair in its :class:`PrincipalFrame`, in
    ``jobs`` processes (default: up to 4 cores): 27 certificates, about 22 minutes on 2 cores
    (:mod:`synthetic.make_tables`)."""
    frame = PrincipalFrame(source)
    lo, hi = frame.support_box(CORRELATED_LAPLACE_TABLE_TAIL)
    n = [int(math.ceil((b - a) / CORRELATED_LAPLACE_TABLE_H)) for a, b in zip(lo, hi)]
    return certified_curve(
        frame,
        float(source.variance().sum()),
        tail=CORRELATED_LAPLACE_TABLE_TAIL,
        d_grid=CORRELATED_LAPLACE_TABLE_D,
        n=n,
        tol_bits=CORRELATED_LAPLACE_TABLE_TOL_BITS,
        retry_bits=CORRELATED_LAPLACE_TABLE_RETRY_BITS,
        jobs=default_jobs() if jobs is None else jobs,
        progress=progress,
    )


@dataclass(frozen=True)
class CorrelatedLaplaceOptions:
    """Parameters of ``correlated-laplace``; rho = 0.8 is the shipped table's."""

    rho: float = field(default=0.8, metadata={"help": "correlation of the two unit-variance components, in (-1, 1)"})


register_source(
    "correlated-laplace", options=CorrelatedLaplaceOptions, summary="two unit-variance Laplace components mixed to correlation rho"
)(CorrelatedLaplaceSource)
