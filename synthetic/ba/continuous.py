"""Certified bounds on R(D) of continuous sources under squared error, from a discrete BA test channel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import fft as sfft

from synthetic.ba.checks import check_positive
from synthetic.ba.grid import GridSource, LogDensity, grid_source, log_density_on, mesh
from synthetic.ba.operators import (
    DROP_MASSES_CONTINUOUS,
    RELIABLE,
    Array,
    GaussianKernel,
    grid_terms,
)
from synthetic.ba.points import LN2, BAPoint, warn_unconverged, with_iterations
from synthetic.ba.solver import Problem
from synthetic.ba.target import solve_at_distortion

__all__ = ["ContinuousEvaluator", "ContinuousRDCertificate", "certify_rd_continuous", "rd_bounds_continuous"]

@dataclass(frozen=True)
class ContinuousRDCertificate:
    """Bounds on R(D) of a continuous source under squared error, with their error budget.

    ``lower <= R(D) <= upper`` (nats) up to the estimated quadrature error, which is already
    included (see :func:`certify_rd_continuous`).

    Arguments:
        lower: Blahut's lower bound at D, not clamped at 0: it is a dual line, so
            ``lower + slope * (D - D2) <= R(D2)`` for every D2 as well.
        upper: upper bound; it holds at ``channel_distortion`` (<= D), hence at D.
        D: the distortion asked for.
        slope: lam of the discrete BA solution used as the test channel.
        channel_distortion: the test channel's distortion for the continuous source, error
            bars included.
        discrete: the discrete BA point behind the channel.
        errors: what was added: quadrature (two-resolution differences) for the distortion and
            both bounds, the source mass beyond the widened box, the discrete gap.
    """

    lower: float
    upper: float
    D: float
    slope: float
    channel_distortion: float
    discrete: BAPoint
    errors: dict[str, float]


def rd_bounds_continuous(
    log_density: LogDensity,
    D: float,
    *,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    tol_bits: float = 1e-4,
    refine: tuple[int, int] = (3, 5),
    rule: Literal["midpoint", "gauss"] = "midpoint",
    align_mean: bool = True,
) -> tuple[float, float]:
    """(lower, upper) bounds in nats on R(D) of a continuous source under squared error.

    See :func:`certify_rd_continuous` (same arguments) for the method and the error control.

    Example:
        >>> lp = lambda x: -0.5 * (x**2).sum(1) - 0.5 * np.log(2 * np.pi)
        >>> lower, upper = rd_bounds_continuous(lp, 0.25, lo=-8, hi=8, n=1024)
        >>> bool(lower <= 0.5 * np.log(1 / 0.25) <= upper)
        True
    """
    cert = certify_rd_continuous(
        log_density, D, lo=lo, hi=hi, n=n, tol_bits=tol_bits, refine=refine, rule=rule, align_mean=align_mean
    )
    return max(0.0, cert.lower), cert.upper


def certify_rd_continuous(
    log_density: LogDensity,
    D: float,
    *,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    tol_bits: float = 1e-4,
    refine: tuple[int, int] = (3, 5),
    rule: Literal["midpoint", "gauss"] = "midpoint",
    align_mean: bool = True,
) -> ContinuousRDCertificate:
    """Bounds on R(D) of a continuous source (density on R^d, d = 1, 2, ...) under squared error.

    BA on a histogram only gives R(D) of the discretised source, so the discrete solution is
    used as a *test channel for the continuous X* and both of Blahut's bounds are re-evaluated
    for continuous x (Blahut 1972; both hold for any alphabets, Berger 1971, Ch. 2):

    1. The source is discretised on ``n`` cells per dimension over the box (``grid_source``)
       and BA is run in target-D mode, giving a slope lam and output pmf q on the cell centres
       y_j. The test channel for any real x is ``Q(j|x) = q_j e^{-lam |x - y_j|^2} / Z(x)``.
    2. Upper bound: ``R(D_Q) <= I(X;Y) <= E_X KL(Q(.|X) || q)`` evaluated by the midpoint rule on
       a grid ``refine[i]`` times finer than the BA grid over the box widened by a quarter of
       its width on every side, with FFT round-off bounded as on the discrete FFT path (points
       where Z is below its round-off bound use ``Y = nearest y_j`` instead). The discrete target
       is lowered until the channel's distortion, error bars included, is <= D, so
       ``R(D) <= R(D_Q) <= upper``.
    3. Lower bound: ``R(D) >= -lam D - E_X log Zt(X) - log sup_y ct(y)`` for any positive Zt,
       where ``ct(y) = E_X e^{-lam |X - y|^2} / Zt(X)`` and the sup is over *all* y in R^d. We
       take Zt = Z on the widened box and Zt = 1 (>= Z) beyond it, so the mass eps beyond adds
       at most eps to ct and nothing to E log Zt. For y outside the widened box ct(y) <= ct of
       its projection (the box is convex), so the sup is over the box: ct is evaluated on the
       fine grid by FFT (error bar added) and re-evaluated directly on a 5^d sub-grid around
       the largest grid values. Among the candidates for Zt (the best bound is kept) is also
       Zt = 1 on the widening ring beyond the BA box: no output lies there, so Z falls off like
       the Gaussian kernel while a long-tailed or curved density (the banana of Balle et al.
       2021) may not, and p/Z there would dominate sup ct; with Zt = 1 the ring adds at most
       its mass to ct, at a cost of its ``E log(1/Z)``.
    4. Error control: the distortion and both bounds are computed at both refinements; the
       difference (an estimate of the coarser one's error, hence conservative for the finer
       one whose value is used) is added to the distortion and the upper bound and subtracted
       from the lower bound (``errors`` lists each term). For smooth densities the midpoint
       rule converges spectrally here (the integrands are smooth on the kernel width
       ``1/sqrt(2 lam)``, which the grids resolve when ``lam h^2 < ~1``), so these terms are
       1e-10 to 1e-7 nats and the width is set by ``tol_bits``; a kink (Laplace) gives ~1e-6.
       The mass beyond the widened box, ``eps = max(0, 1 - fine quadrature mass)``, enters the
       upper bound as ``eps * max_j log(1/q_j)`` in rate and ``eps * diag^2`` in distortion
       (diag = the widened box's diagonal; this assumes that far tail lies within a diagonal
       of the box, which no finite set of density values can verify) and the lower bound as
       in 3. For D at or above the best constant reproduction's distortion (estimated the same
       way) R(D) = 0 and (0, 0) is returned.

    Midpoint cell masses (``rule="midpoint"``) make the discrete problem a spectrally accurate
    quadrature of the continuous one, so the discrete optimum is near-optimal for continuous x;
    exact cell masses (``rule="gauss"``) add an O(lam h^2) mismatch that widens the bounds.

    Arguments:
        log_density: vectorised normalised log density, (k, d) -> (k,).
        D: squared error per sample summed over dimensions, > 0.
        lo, hi: box per dimension holding all but a negligible part of the mass.
        n: BA cells per dimension (default 2048 in 1-D, 128 in 2-D).
        tol_bits: certified gap of the discrete BA solve, bits.
        refine: two odd refinement factors, coarse < fine, for the quadrature.
        rule: cell masses for the BA grid ("midpoint" or "gauss").
        align_mean: shift the box by under half a cell so the source mean is a cell centre.
            Directions that get zero rate (inactive components in reverse water-filling) are
            reproduced by their mean; without the shift the upper bound can lose ~lam h^2 / 4.

    Returns:
        A :class:`ContinuousRDCertificate`.
    """
    D = float(D)
    if not math.isfinite(D) or D <= 0:
        raise ValueError(f"D must be finite and > 0, got {D!r}")
    tol = check_positive(tol_bits, "tol_bits") * LN2
    r1, r2 = (int(r) for r in refine)
    if len(tuple(refine)) != 2 or not (1 <= r1 < r2) or r1 % 2 == 0 or r2 % 2 == 0:
        raise ValueError(f"refine must be two odd ints 1 <= coarse < fine, got {refine!r}")
    src = grid_source(log_density, lo, hi, n, rule=rule)
    if align_mean:
        # shift the box by < half a cell so that the source mean is a cell centre: directions
        # that get zero rate are reproduced by their mean, which a grid straddling the mean
        # cannot output (the upper bound then loses ~ lam h^2 / 4 nats)
        mean = src.masses @ src.points
        shift = tuple(
            float(mu - ax[int(np.argmin(np.abs(ax - mu)))]) for mu, ax in zip(mean, src.axes)
        )
        src = grid_source(
            log_density,
            [a + s for a, s in zip(src.lo, shift)],
            [b + s for b, s in zip(src.hi, shift)],
            src.shape,
            rule=rule,
        )
    ev = ContinuousEvaluator(log_density, src)
    mass2 = ev.mass(r2)
    if abs(mass2 - 1.0) > 1e-3:  # a loose check for un-normalised densities; eps_far takes the rest
        raise ValueError(
            f"log_density must be normalised and the box must hold its mass: the widened box holds {mass2:.9g}"
        )
    # mass beyond the widened box; the quadrature error of mass2 is not added here because it
    # is already part of the two-resolution error terms of every bound
    eps_far = max(0.0, 1.0 - mass2)

    # R = 0 once D reaches the distortion of the best constant reproduction
    d_const1, j_const = ev.constant_distortion(r1)
    d_const2, _ = ev.constant_distortion(r2, j_const)
    d_const = d_const2 + abs(d_const2 - d_const1) + eps_far * ev.diag2
    if D >= d_const:
        q = np.zeros(src.masses.size)
        q[j_const] = 1.0
        q.setflags(write=False)
        pt = BAPoint(0.0, D, 0.0, 0.0, 0, True, q)
        return ContinuousRDCertificate(0.0, 0.0, D, 0.0, d_const, pt, {"constant_distortion": d_const})

    problem = Problem(src.masses, src.distortion, "fft", None)
    _, d_max_disc, _ = problem.distortion_range()
    # aim the discrete D a little low (the continuous D_Q sits within ~1e-9 D of it for smooth
    # densities) and accept 1e-6 relative: the upper bound then costs ~lam * 2e-6 D more
    target = D * (1.0 - 2e-6)
    point: BAPoint | None = None
    res1 = res2 = None
    solved: dict[float, tuple[BAPoint, Array]] = {}  # shared by the retargeted solves
    updates = 0
    for _ in range(8):
        target = min(target, d_max_disc * (1.0 - 1e-6))
        point, v = solve_at_distortion(problem, target, tol, 100_000, 1e-6, solved)
        updates += point.iterations
        res2 = ev.evaluate(point.slope, v, r2, D, eps_far)
        res1 = ev.evaluate(point.slope, v, r1, D, eps_far)
        dist = res2["dist"] + abs(res2["dist"] - res1["dist"])
        if dist <= D:
            break
        target -= (dist - D) + 1e-6 * D
    assert point is not None and res1 is not None and res2 is not None
    point = with_iterations(point, updates)
    warn_unconverged([point], 100_000, tol_bits)
    e_up = abs(res2["upper"] - res1["upper"])
    e_lo = abs(res2["lower"] - res1["lower"])
    e_d = abs(res2["dist"] - res1["dist"])
    dist = res2["dist"] + e_d
    upper = res2["upper"] + e_up
    if dist > D:  # could not push the channel below D: no valid upper bound from it
        upper = math.inf
    # not clamped at 0: lower + slope * (D - D') must stay a valid bound at every D' (dual line)
    lower = res2["lower"] - e_lo
    errors = {
        "quadrature_distortion": e_d,
        "quadrature_upper": e_up,
        "quadrature_lower": e_lo,
        "mass_beyond_widened_box": eps_far,
        "discrete_gap": point.gap,
    }
    return ContinuousRDCertificate(lower, max(upper, lower), D, point.slope, dist, point, errors)


class ContinuousEvaluator:
    """Midpoint quadrature of Blahut's bounds for continuous x on refined, widened grids."""

    def __init__(self, log_density: LogDensity, src: GridSource) -> None:
        self.log_density = log_density
        self.src = src
        self.dims = len(src.shape)
        self.ext = tuple(max(1, -(-n // 4)) for n in src.shape)  # widen by a quarter per side
        h = src.spacing
        self.diag2 = float(sum(((b - a) + 2 * e * hh) ** 2 for a, b, e, hh in zip(src.lo, src.hi, self.ext, h)))
        self._cache: dict[int, tuple[Array, tuple[Array, ...]]] = {}

    def fine(self, r: int) -> tuple[Array, tuple[Array, ...]]:
        """Fine cell masses p(x) dx (not normalised) and fine centres per axis at refinement r."""
        if r not in self._cache:
            axes = []
            for a, n, e, hh in zip(self.src.lo, self.src.shape, self.ext, self.src.spacing):
                f = (n + 2 * e) * r
                axes.append(a - e * hh + (np.arange(f) + 0.5) * hh / r)
            vol = float(np.prod([hh / r for hh in self.src.spacing]))
            logp = log_density_on(self.log_density, mesh(axes))
            p = np.exp(logp).reshape(tuple(ax.size for ax in axes)) * vol
            self._cache[r] = (p, tuple(axes))
        return self._cache[r]

    def mass(self, r: int) -> float:
        return float(self.fine(r)[0].sum())

    def constant_distortion(self, r: int, j: int | None = None) -> tuple[float, int]:
        """min_j E|X - y_j|^2 over cell centres (or at the given j), by quadrature on the widened box."""
        p, axes = self.fine(r)
        mean = []
        second = 0.0
        for a, ax in enumerate(axes):
            marg = p.sum(axis=tuple(b for b in range(self.dims) if b != a))
            mean.append(float(marg @ ax))
            second += float(marg @ (ax * ax))
        ys = self.src.points
        mass = float(p.sum())
        col = second - 2.0 * ys @ np.array(mean) + mass * (ys * ys).sum(axis=1)
        if j is None:
            j = int(np.argmin(col))
        return float(col[j]), j

    def evaluate(self, lam: float, v: Array, r: int, target_D: float, eps_far: float) -> dict[str, float]:
        src = self.src
        p, axes = self.fine(r)
        fshape = p.shape
        spacing = tuple(hh / r for hh in src.spacing)
        vmax = float(v.max())
        qs = np.exp(v - vmax).reshape(src.shape)
        q_f = np.zeros(fshape)
        centre = tuple(slice(e * r + (r - 1) // 2, (e + n) * r, r) for e, n in zip(self.ext, src.shape))
        q_f[centre] = qs
        ker = GaussianKernel(lam, spacing, tuple(sfft.next_fast_len(2 * f - 1, real=True) for f in fshape))
        zs = ker.conv(q_f, "k", fshape)
        ns = ker.conv(q_f, "d", fshape)
        dz, dn = ker.err(q_f, "k"), ker.err(q_f, "d")
        # nearest BA output for every fine x (used where Z is below its round-off bound)
        jidx = [np.clip(np.arange(f) // r - e, 0, n - 1) for f, e, n in zip(fshape, self.ext, src.shape)]
        near = np.zeros(fshape)
        for a, (ax, ji, base_ax) in enumerate(zip(axes, jidx, src.axes)):
            shape = [1] * self.dims
            shape[a] = ax.size
            near = near + ((ax - base_ax[ji]) ** 2).reshape(shape)
        v_at_x = v.reshape(src.shape)[np.ix_(*jidx)]
        terms = grid_terms(lam, p, v_at_x, vmax, zs, ns, dz, dn, near, DROP_MASSES_CONTINUOUS)
        # beyond the widened box (mass eps_far): Y = nearest y_j, rate <= eps max log 1/q_j
        dist = terms.dist + eps_far * self.diag2
        upper = terms.upper + eps_far * float(-v.min())
        ws, pens = self._with_ring_candidate(terms.w, terms.pens, p, zs, dz, vmax, r)
        cs = ker.conv(ws, "k", fshape)
        lower = -math.inf
        for k in range(ws.shape[0]):
            cmax = self._sup(ws[k], cs[k], axes, spacing, lam) + ker.err(ws[k], "k")
            c_sup = cmax * math.exp(-vmax) + eps_far
            lower = max(lower, -lam * target_D + terms.neg_log_z - float(pens[k]) - math.log(c_sup))
        return {"dist": dist, "upper": upper, "lower": lower}

    def _with_ring_candidate(
        self, ws: Array, pens: Array, p: Array, zs: Array, dz: float, vmax: float, r: int
    ) -> tuple[Array, Array]:
        """The lower bound's candidates plus one with Zt = 1 on the fine points beyond the BA box.

        ``ws[0]`` holds ``p / Z`` on the reliable points (Zt = Z_fft) and ``p`` (times ``e^vmax``)
        elsewhere, as :func:`~synthetic.ba.operators.grid_terms` builds it; setting Zt = 1 on the
        reliable ring points costs ``sum p log(1/Z)`` over them (Blahut's bound holds for any
        positive Zt).
        """
        _, axes = self.fine(r)
        inside = np.ones(p.shape, dtype=bool)
        for a, (ax, lo, hi) in enumerate(zip(axes, self.src.lo, self.src.hi)):
            shape = [1] * self.dims
            shape[a] = ax.size
            inside &= ((ax >= lo) & (ax <= hi)).reshape(shape)
        drop = ~inside & (p > 0) & (zs > RELIABLE * dz)
        if not drop.any():
            return ws, pens
        ring = ws[0].copy()
        ring[drop] = p[drop] * math.exp(vmax)
        pen = float((p[drop] * -(np.log(zs[drop]) + vmax)).sum())
        return np.concatenate([ws, ring[None]]), np.append(pens, pen)

    def _sup(self, w: Array, c_grid: Array, axes: Sequence[Array], spacing: Sequence[float], lam: float) -> float:
        """max of c(y) = sum_x w(x) e^{-lam |x - y|^2}: grid max, refined on 5^d sub-grids.

        The kernel is a product over axes, so c on a sub-grid is w contracted with one small
        (5, F_a) kernel matrix per axis: exact sums over every fine x at O(5 d F) cost.
        """
        best = float(c_grid.max())
        offs = np.linspace(-0.5, 0.5, 5)
        for flat in np.argsort(c_grid, axis=None)[-3:]:
            idx = np.unravel_index(flat, c_grid.shape)
            vals = w
            for ax, i, s in zip(axes, idx, spacing):
                ys = ax[i] + offs * s
                kmat = np.exp(-lam * (ys[:, None] - ax[None, :]) ** 2)
                vals = np.tensordot(vals, kmat, axes=([0], [1]))  # contracts the leading axis
            best = max(best, float(vals.max()))
        return best
