"""Blahut-Arimoto at a target distortion: the slope search, polishing, and time sharing on straight segments."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from synthetic.ba.checks import (
    Method,
    check_distortion,
    check_max_iter,
    check_pmf,
    check_positive,
)
from synthetic.ba.operators import TINY, Array, GridSquaredError
from synthetic.ba.points import LN2, BAPoint, warn_unconverged, with_iterations
from synthetic.ba.roots import BrentRoot, brent_root
from synthetic.ba.solver import Problem

__all__ = ["POLISH_STEPS", "blahut_arimoto_at_distortion", "solve_at_distortion", "time_share"]

# Plain BA updates per evaluation when target-D mode polishes the slope (a continuous map of lam).
POLISH_STEPS = 3


def blahut_arimoto_at_distortion(
    p: ArrayLike,
    distortion: ArrayLike | GridSquaredError,
    target_D: float,
    *,
    tol_bits: float = 1e-4,
    max_iter: int = 100_000,
    q0: ArrayLike | None = None,
    method: Method = "auto",
    rtol_D: float = 1e-7,
) -> BAPoint:
    """Certified bounds on R(target_D): the Blahut-Arimoto point whose distortion is target_D.

    D(lam) is non-increasing (R is convex and R'(D) = -lam), so the slope is bracketed in
    log lam and found with Brent's method, each solve warm started from a nearby one. A point
    certified to ``tol_bits`` pins D down only loosely where the Lagrangian is flat (low rate:
    ~1e-3 relative), so Brent then runs again on a map that is continuous in lam: a fixed
    number of plain BA updates from one fixed start, re-certified. If R(D) has a straight
    segment at target_D (discrete sources: D(lam) jumps over it) the nearest certified points
    on either side are time-shared, which hits target_D exactly with ``rate_upper`` the chord
    of their upper bounds (valid as R is convex) and ``rate_lower`` the better of their dual
    lines ``LB_i + lam_i (D_i - target_D)``; the returned q is then the mixture of their q.

    Arguments:
        p: source pmf, shape (n,).
        distortion: d(x, y) >= 0, shape (n, m), or a GridSquaredError.
        target_D: distortion wanted; needs ``D_min < target_D`` with
            ``D_min = sum_x p(x) min_y d(x, y)``. For ``target_D >= D_max = min_y sum_x p(x) d(x, y)``
            the rate is exactly 0 and the point returned has ``slope=0``, zero bounds and q a
            point mass on the minimising y (that constant reproduction has distortion D_max).
        tol_bits: certified gap to reach, bits.
        max_iter: most BA updates per solve.
        q0: initial output pmf for the first solve.
        method: "dense", "fft" or "auto" as in :func:`blahut_arimoto`.
        rtol_D: relative accuracy wanted on the distortion.

    Returns:
        A :class:`BAPoint` with ``distortion`` equal to target_D within ``rtol_D`` (relative).

    Example:
        >>> pt = blahut_arimoto_at_distortion([0.3, 0.7], [[0, 1], [1, 0]], 0.1)
        >>> abs(pt.distortion - 0.1) < 1e-7
        True
    """
    pv = check_pmf(p, "p")
    dist = check_distortion(distortion, pv.size)
    tol = check_positive(tol_bits, "tol_bits") * LN2
    max_iter = check_max_iter(max_iter)
    rtol_D = check_positive(rtol_D, "rtol_D")
    problem = Problem(pv, dist, method, q0)
    point, _ = solve_at_distortion(problem, target_D, tol, max_iter, rtol_D)
    warn_unconverged([point], max_iter, tol_bits)
    return point


def solve_at_distortion(
    problem: Problem,
    target_D: float,
    tol: float,
    max_iter: int,
    rtol_D: float,
    solved: dict[float, tuple[BAPoint, Array]] | None = None,
) -> tuple[BAPoint, Array]:
    """Target-D solve; returns the point and its log q (finite where q underflowed).

    ``solved`` (log lam -> certified point, log q) may carry solves over from an earlier call on
    the same problem, e.g. for a nearby target; it is updated in place.
    """
    d_min, d_max, j_max = problem.distortion_range()
    target = float(target_D)
    if not math.isfinite(target) or target <= d_min:
        raise ValueError(
            f"target_D must be finite and in (D_min, inf) = ({d_min!r}, inf), R(D) = 0 from "
            f"D_max = {d_max!r} on; got {target_D!r}"
        )
    if target >= d_max:
        q = np.zeros(problem.m)
        q[j_max] = 1.0
        q.setflags(write=False)
        pt0 = BAPoint(slope=0.0, distortion=target, rate_lower=0.0, rate_upper=0.0, iterations=0, converged=True, q=q)
        return pt0, np.where(q > 0, 0.0, -1500.0)
    search = _SlopeSearch(problem, target, tol, max_iter, rtol_D, {} if solved is None else solved)
    outcome = search.brent_on_certified()
    if outcome != "jump":
        found = search.polish_best()
        if found is not None:
            return found
    return search.time_share_across()


class _SlopeSearch:
    """The state of one target-D search: certified solves by log slope t = log lam, warm started."""

    def __init__(
        self, problem: Problem, target: float, tol: float, max_iter: int, rtol_D: float, solved: dict[float, tuple[BAPoint, Array]]
    ) -> None:
        self.problem, self.target, self.tol, self.max_iter, self.rtol_D = problem, target, tol, max_iter, rtol_D
        self.solved = solved
        self.total_iters = 0

    def solve(self, t: float) -> BAPoint:
        """Certified point at lam = e^t, warm started from the solves done so far."""
        solved = self.solved
        if t in solved:
            return solved[t][0]
        if solved:
            # warm start from the nearest larger slope if any (q's support shrinks as lam falls)
            above = [u for u in solved if u > t]
            near = min(above or solved, key=lambda u: abs(u - t))
            v0 = self.problem.warm_start(solved[near][1], t - near)
        else:
            v0 = self.problem.v_init
        pt, v = self.problem.solve(np.array([math.exp(t)]), v0, self.tol, self.max_iter)[0]
        self.total_iters += pt.iterations
        solved[t] = (pt, v)
        return pt

    def hits(self, pt: BAPoint) -> bool:
        return abs(pt.distortion - self.target) <= self.rtol_D * self.target

    def ends(self) -> tuple[float, float] | None:
        """The closest certified log slopes with D above and below the target, if they bracket it."""
        above = [u for u in self.solved if self.solved[u][0].distortion > self.target]
        below = [u for u in self.solved if self.solved[u][0].distortion < self.target]
        if above and below and max(above) < min(below):
            return max(above), min(below)
        return None

    def closest(self) -> float:
        return min(self.solved, key=lambda u: abs(self.solved[u][0].distortion - self.target))

    def bracket(self) -> tuple[float, float]:
        """log lam on either side of the target (lam ~ 1/(target - D_min) sets the scale, unless
        earlier solves already bracket it)."""
        found = self.ends()
        if found is not None:
            return found
        d_min = self.problem.distortion_range()[0]
        t = self.closest() if self.solved else -math.log(self.target - d_min)
        step = math.log(4.0)
        direction = 1.0 if self.solve(t).distortion > self.target else -1.0
        for _ in range(200):
            t_far = t + direction * step
            if (self.solve(t_far).distortion - self.target) * direction <= 0:
                return min(t, t_far), max(t, t_far)
            t, step = t_far, step * 1.5
        d_max = self.problem.distortion_range()[1]
        raise ValueError(f"could not bracket the slope for target_D={self.target!r} in ({d_min!r}, {d_max!r})")

    def brent_on_certified(self) -> Literal["hit", "jump", "stopped"]:
        """Phase 1: Brent's method in log lam on certified solves, to 1e-7.

        Their D is only as reproducible as the gap allows (~1e-3 relative at low rate, where the
        Lagrangian is flat; ~1e-6 where BA converges sublinearly), so this phase only gets close.
        It stops early when a solve hits the target (``"hit"``) or when D(lam) jumps over the
        target (``"jump"``: a straight segment of R, the bracket in log lam has shrunk 100-fold
        but the D gap across it has not even halved); noisy D may also break Brent's invariants
        (a sign or iteration-count stop), which is fine: the solves so far are kept either way.
        """
        lo, hi = self.bracket()
        history: list[tuple[float, float]] = []  # (bracket width in log lam, D gap across it)
        root = BrentRoot(lo, hi, xtol=1e-7, rtol=1e-7, maxiter=100)
        while root.status == "running":
            u = root.ask()
            d = self.solve(u).distortion
            if abs(d - self.target) <= self.rtol_D * self.target:
                return "hit"
            e = self.ends()
            if e is not None:
                width, d_gap = e[1] - e[0], self.solved[e[0]][0].distortion - self.solved[e[1]][0].distortion
                if any(w >= 1e2 * width and g < 2.0 * d_gap for w, g in history):
                    return "jump"
                history.append((width, d_gap))
            root.tell(d - self.target)
        return "stopped"

    def polish_best(self) -> tuple[BAPoint, Array] | None:
        """Phase 2: the closest certified solve, or Brent on a map continuous in lam from it.

        From one fixed start, a fixed number of plain BA updates is a continuous map of lam, so
        Brent can hit target_D to round-off; the point is then re-certified. None when neither
        gives a certified point at the target.
        """
        t_best = self.closest()
        best = self.solve(t_best)
        if self.hits(best) or best.gap > self.tol:
            return with_iterations(best, self.total_iters), self.solved[t_best][1]
        v_start = self.solved[t_best][1]
        polished: dict[float, tuple[BAPoint, Array]] = {}

        def polish(u: float) -> float:
            if u not in polished:
                polished[u] = self.problem.polish(math.exp(u), v_start, POLISH_STEPS)
                self.total_iters += POLISH_STEPS
            return polished[u][0].distortion - self.target

        f0 = polish(t_best)
        width = 1e-6 * max(1.0, abs(t_best))
        lo = hi = t_best
        for _ in range(40):
            lo, hi = lo - width, hi + width
            if polish(lo) * f0 < 0 or polish(hi) * f0 < 0 or width > 1.0:
                break
            width *= 2.0
        other = lo if polish(lo) * f0 < 0 else (hi if polish(hi) * f0 < 0 else None)
        if other is None:
            return None
        brent_root(polish, min(t_best, other), max(t_best, other), xtol=1e-15, rtol=4 * np.finfo(float).eps)
        hits = [e for e in polished.values() if e[0].gap <= self.tol and self.hits(e[0])]
        if not hits:
            return None
        pt, v = min(hits, key=lambda e: e[0].gap)
        return with_iterations(pt, self.total_iters), v

    def time_share_across(self) -> tuple[BAPoint, Array]:
        """Phase 3: a straight segment of R(D) (D(lam) jumps over target_D), or D noise we cannot
        resolve: time-share certified points on either side, narrowing the bracket by bisection
        until the chord certifies (it costs about (lam_b - lam_a)(D_a - D_b) / 4 over the gaps)."""
        shared = None
        for _ in range(60):
            e = self.ends()
            if e is None:
                break
            pa, pb = self.solve(e[0]), self.solve(e[1])
            shared = time_share(pa, pb, self.target, self.total_iters, self.tol)
            if shared.converged or e[1] - e[0] < 1e-12 * max(1.0, abs(e[0])):
                break
            mid = 0.5 * (e[0] + e[1])
            pm = self.solve(mid)
            if self.hits(pm):
                return with_iterations(pm, self.total_iters), self.solved[mid][1]
        if shared is None:
            t_best = self.closest()
            best = self.solve(t_best)
            return with_iterations(best, self.total_iters), self.solved[t_best][1]
        shared = with_iterations(shared, self.total_iters)
        return shared, np.log(np.maximum(shared.q, TINY))


def time_share(pa: BAPoint, pb: BAPoint, target: float, iterations: int, tol: float) -> BAPoint:
    """Mix two certified points with D_a > target > D_b so that the mixture has D = target.

    Using channel a with probability th and b otherwise gives distortion target when
    th = (target - D_b) / (D_a - D_b); its rate is at most th UB_a + (1 - th) UB_b, so by convexity
    R(target) is at most that chord. Each point's lower bound is a line of slope -lam_i valid
    for every D (Blahut 1972), so R(target) >= LB_i + lam_i (D_i - target).
    """
    th = (target - pb.distortion) / (pa.distortion - pb.distortion)
    upper = th * pa.rate_upper + (1 - th) * pb.rate_upper
    lower = max(
        pa.rate_lower + pa.slope * (pa.distortion - target),
        pb.rate_lower + pb.slope * (pb.distortion - target),
    )
    q = th * pa.q + (1 - th) * pb.q
    q.setflags(write=False)
    slope = th * pa.slope + (1 - th) * pb.slope
    upper = max(upper, lower)
    return BAPoint(slope, target, lower, upper, iterations, bool(upper - lower <= tol), q)
