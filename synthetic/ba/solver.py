"""Blahut-Arimoto at given slopes: certified points of R(D) of a discrete source (nats)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from synthetic.ba.checks import (
    Method,
    check_distortion,
    check_max_iter,
    check_pmf,
    check_positive,
    check_slopes,
    resolve_method,
)
from synthetic.ba.operators import (
    Array,
    Certificate,
    DenseOperator,
    GridOperator,
    GridSquaredError,
    safe_log,
)
from synthetic.ba.points import LN2, BAPoint, warn_unconverged
from synthetic.ba.squarem import normalize_log, squarem_solve

__all__ = ["DENSE_CHUNK", "Problem", "blahut_arimoto", "make_point"]

DENSE_CHUNK = 4_000_000  # elements of one (slopes, n, m) block on the dense path


def blahut_arimoto(
    p: ArrayLike,
    distortion: ArrayLike | GridSquaredError,
    slopes: float | ArrayLike,
    *,
    tol_bits: float = 1e-4,
    max_iter: int = 100_000,
    q0: ArrayLike | None = None,
    method: Method = "auto",
) -> list[BAPoint]:
    """Certified points of R(D) of a discrete source by the Blahut-Arimoto algorithm.

    For each slope lam the iteration ``q <- q c`` with ``Z(x) = sum_y q(y) e^{-lam d(x,y)}`` and
    ``c(y) = sum_x p(x) e^{-lam d(x,y)} / Z(x)`` (Blahut 1972, eq. 7; Cover & Thomas 2006, 10.8)
    runs in the log domain until Blahut's upper bound (the mutual information of the test
    channel ``Q(y|x) = q(y) e^{-lam d(x,y)} / Z(x)``) minus his lower bound
    ``-lam D - sum_x p log Z - max_y log c(y)`` is at most ``tol_bits`` (in nats:
    ``tol_bits * ln 2``). Steps are extrapolated with SQUAREM (a step is kept only when it lowers
    BA's objective). On the dense path all slopes iterate together; on the FFT path
    (``distortion`` a :class:`GridSquaredError`) slopes run from the largest down, each warm
    started from the previous one, and the certificate carries FFT round-off error bars.

    Arguments:
        p: source pmf, shape (n,).
        distortion: matrix d(x, y) >= 0 of shape (n, m), or a GridSquaredError (m = n).
        slopes: lam > 0, one float or a 1-D array; ``R'(D) = -lam`` at the returned point.
        tol_bits: certified gap ``rate_upper - rate_lower`` to reach, in bits (> 0).
        max_iter: most BA updates per slope; hitting it gives ``converged=False`` and a
            :class:`BAConvergenceWarning`. 0 evaluates the bounds at q0 without iterating.
        q0: initial output pmf, shape (m,); default uniform (dense) or p (grid).
        method: "dense", "fft" (needs a GridSquaredError) or "auto".

    Returns:
        One :class:`BAPoint` per slope, in the order given.

    Example:
        >>> pts = blahut_arimoto([0.3, 0.7], [[0, 1], [1, 0]], [2.0, 4.0])
        >>> all(pt.rate_lower <= pt.rate_upper for pt in pts)
        True
    """
    pv = check_pmf(p, "p")
    dist = check_distortion(distortion, pv.size)
    lam = check_slopes(slopes)
    tol = check_positive(tol_bits, "tol_bits") * LN2
    max_iter = check_max_iter(max_iter)
    problem = Problem(pv, dist, method, q0)
    results: list[BAPoint | None] = [None] * lam.size
    if problem.how == "dense":
        chunk = max(1, DENSE_CHUNK // max(1, problem.n * problem.m))
        for start in range(0, lam.size, chunk):
            idx = np.arange(start, min(lam.size, start + chunk))
            for i, (pt, _) in zip(idx, problem.solve(lam[idx], problem.v_init, tol, max_iter)):
                results[i] = pt
    else:
        # largest slope first: the support of q shrinks as lam falls, which BA follows quickly
        v_prev, lam_prev = problem.v_init, None
        for i in np.argsort(-lam, kind="stable"):
            v0 = v_prev if lam_prev is None else problem.warm_start(v_prev, math.log(lam[i] / lam_prev))
            pt, v = problem.solve(lam[i : i + 1], v0, tol, max_iter)[0]
            results[i] = pt
            if q0 is None:
                v_prev, lam_prev = v, lam[i]
    points = [pt for pt in results if pt is not None]
    warn_unconverged(points, max_iter, tol_bits)
    return points


class Problem:
    """A validated source/distortion pair with its operator, initial log q and D range."""

    def __init__(self, p: Array, dist: Array | GridSquaredError, method: str, q0: ArrayLike | None) -> None:
        self.p = p
        self.dist = dist
        self.how = resolve_method(method, dist)
        self.n = p.size
        self.m = dist.size if isinstance(dist, GridSquaredError) else dist.shape[1]
        if q0 is not None:
            self.v_init = safe_log(check_pmf(q0, "q0", size=self.m))
        elif self.how == "fft":
            # q = p is the high-rate optimum on a shared grid; 1e-3 of uniform mass keeps cells
            # with p = 0 alive (an output at log q = -708 with c(y) ~ 1 would take ~1e5 updates)
            self.v_init = np.log((1 - 1e-3) * p + 1e-3 / p.size)
        else:
            self.v_init = np.full(self.m, -math.log(self.m))
        self.op: DenseOperator | GridOperator
        if self.how == "dense":
            self.op = DenseOperator(p, dist.dense() if isinstance(dist, GridSquaredError) else dist)
        else:
            assert isinstance(dist, GridSquaredError)
            self.op = GridOperator(p, dist)

    def distortion_range(self) -> tuple[float, float, int]:
        """(D_min, D_max, argmin_y E d(X, y)): R(D) is finite for D > D_min and 0 for D >= D_max."""
        if isinstance(self.dist, GridSquaredError):
            xs = self.dist.index_coordinates()
            mean = self.p @ xs
            second = float(self.p @ (xs * xs).sum(axis=1))
            col = second - 2.0 * xs @ mean + (xs * xs).sum(axis=1)  # E|X - y|^2 per grid y
            j = int(np.argmin(col))
            return 0.0, max(0.0, float(col[j])), j
        d = self.dist
        col = self.p @ d
        j = int(np.argmin(col))
        return float(self.p @ d.min(axis=1)), float(col[j]), j

    def warm_start(self, v_prev: Array, dlog_slope: float) -> Array:
        """Initial log q for a new slope from the solution at another one, |log ratio| apart.

        An output that was dead at the previous slope (log q ~ -hundreds) may belong to the new
        support with c(y) only slightly above 1; from there BA needs ~1e4-1e5 updates to climb
        back. So a weight min(1/2, |dlog_slope|) of the default start (uniform, or p on a grid)
        is mixed in: far moves revive every output to within log 2 of that start (outputs that
        should die do so geometrically fast), tiny moves keep the previous solution.
        """
        w = min(0.5, abs(float(dlog_slope)))
        if w == 0.0:
            return v_prev
        return np.logaddexp(v_prev + math.log1p(-w), self.v_init + math.log(w))

    def polish(self, lam: float, v0: Array, steps: int) -> tuple[BAPoint, Array]:
        """``steps`` plain BA updates from v0 at slope lam, then a certificate (no stopping rule)."""
        lam_a = np.array([lam])
        v = v0[None, :].copy()
        for _ in range(steps):
            v = normalize_log(v + self.op.evaluate(lam_a, v).log_c)
        cert = self.op.certify(lam_a, v)[0]
        return make_point(lam, cert, v[0], steps, True), v[0]

    def solve(self, lam: Array, v0: Array, tol: float, max_iter: int) -> list[tuple[BAPoint, Array]]:
        v, certs, iters, conv = squarem_solve(self.op, lam, np.tile(v0, (lam.size, 1)), tol, max_iter)
        return [(make_point(lam[k], certs[k], v[k], iters[k], conv[k]), v[k]) for k in range(lam.size)]


def make_point(lam: float, cert: Certificate, v: Array, iters: int, conv: bool) -> BAPoint:
    q = np.exp(v)
    q /= q.sum()
    q.setflags(write=False)
    return BAPoint(
        slope=float(lam),
        distortion=float(cert.distortion),
        rate_lower=float(cert.lower),
        rate_upper=float(cert.upper),
        iterations=int(iters),
        converged=bool(conv),
        q=q,
    )
