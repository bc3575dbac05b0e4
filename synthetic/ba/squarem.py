"""The Blahut-Arimoto iteration with SQUAREM extrapolation, row by row until each gap is certified."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from synthetic.ba.operators import (
    Array,
    Certificate,
    DenseOperator,
    Evaluation,
    GridOperator,
)

__all__ = ["normalize_log", "squarem_solve", "take_rows"]


def normalize_log(v: Array) -> Array:
    return v - logsumexp(v, axis=1, keepdims=True)


def squarem_solve(
    op: DenseOperator | GridOperator,
    lam: Array,
    v0: Array,
    tol: float,
    max_iter: int,
) -> tuple[Array, list[Certificate], Array, Array]:
    """Run Blahut-Arimoto (q <- q c, Blahut 1972 eq. 7) with SQUAREM extrapolation.

    SQUAREM (Varadhan & Roland 2008, scheme S3) extrapolates two BA steps in log q, which keeps
    q a pmf after normalisation; a step is kept only if it lowers the convex objective
    ``-sum_x p log Z(x)`` that plain BA decreases monotonically, else the plain step is used.
    Rows (slopes) stop individually once their certified gap is <= tol (nats) or after
    ``max_iter`` updates; ``max_iter = 0`` just certifies v0.

    Returns (v, certificates, iterations, converged) per row.
    """
    n_rows = lam.size
    floor = -1500.0  # log q below max - 1500 is exactly zero in float64 anyway
    v = normalize_log(np.maximum(v0, v0.max(axis=1, keepdims=True) + floor))  # finite: no nan steps
    iters = np.zeros(n_rows, dtype=np.int64)
    done = np.zeros(n_rows, dtype=bool)
    certs: list[Certificate | None] = [None] * n_rows
    step_max = np.ones(n_rows)
    every = 12
    last_cert = np.full(n_rows, -every, dtype=np.int64)  # the start is certified fully first

    def bmap(rows: Array, vv: Array) -> tuple[Array, Evaluation]:
        ev = op.evaluate(lam[rows], vv)
        iters[rows] += 1
        return normalize_log(vv + ev.log_c), ev

    def check(rows: Array, vv: Array, ev: Evaluation) -> Array:
        """Certify rows whose cheap gap is small; return mask of rows that are finished."""
        r = np.exp(vv + ev.log_c)
        cheap = ev.log_c.max(axis=1) - (r * ev.log_c).sum(axis=1)
        fin = np.zeros(rows.size, dtype=bool)
        # the certificate can beat this cheap gap (it may choose another Zt), so it is also
        # tried every `every` evaluations, which costs about one evaluation in `every`
        stale = iters[rows] - last_cert[rows] >= every
        cand = np.flatnonzero((cheap <= tol) | stale)
        last_cert[rows[cand]] = iters[rows[cand]]
        if cand.size:
            cs = op.certify(lam[rows[cand]], vv[cand])
            for k, c in zip(cand, cs):
                if c.gap <= tol:
                    fin[k] = True
                    certs[rows[k]] = c
        return fin

    while True:
        # a row with under three updates of budget left takes one plain step, so the cap is exact
        rows = np.flatnonzero(~done & (iters < max_iter) & (iters > max_iter - 3))
        if rows.size:
            x1, ev0 = bmap(rows, v[rows])
            fin = check(rows, v[rows], ev0)
            done[rows[fin]] = True
            v[rows[~fin]] = x1[~fin]
        rows = np.flatnonzero(~done & (iters <= max_iter - 3))
        if rows.size == 0:
            if np.any(~done & (iters < max_iter)):
                continue
            break
        x0 = v[rows]
        x1, ev0 = bmap(rows, x0)
        fin = check(rows, x0, ev0)
        if fin.any():
            done[rows[fin]] = True
            keep = ~fin
            rows, x0, x1, ev0 = rows[keep], x0[keep], x1[keep], take_rows(ev0, keep)
            if rows.size == 0:
                continue
        x2, ev1 = bmap(rows, x1)
        fin = check(rows, x1, ev1)
        if fin.any():
            v[rows[fin]] = x1[fin]
            done[rows[fin]] = True
            keep = ~fin
            rows, x0, x1, x2, ev0, ev1 = rows[keep], x0[keep], x1[keep], x2[keep], take_rows(ev0, keep), take_rows(ev1, keep)
            if rows.size == 0:
                continue
        r = x1 - x0
        s = x2 - 2 * x1 + x0
        w = np.exp(x1)  # weight by mass so vanishing outputs do not dominate the step length
        rn = np.sqrt((w * r * r).sum(axis=1))
        sn = np.sqrt((w * s * s).sum(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(sn > 0, -rn / sn, -1.0)
        alpha = np.clip(alpha, -step_max[rows], -1.0)
        xe = x0 - 2 * alpha[:, None] * r + (alpha * alpha)[:, None] * s
        xe = np.maximum(xe, xe.max(axis=1, keepdims=True) + floor)
        xe = normalize_log(xe)
        x3, eve = bmap(rows, xe)
        ok = eve.merit <= ev0.merit + 1e-12 * np.abs(ev0.merit)
        fin = check(rows, xe, eve)
        # accepted extrapolations continue from the stabilised point, rejected ones from x2
        nxt = np.where(ok[:, None], x3, x2)
        nxt[fin] = xe[fin]
        v[rows] = nxt
        done[rows[fin]] = True
        grow = ok & (alpha <= -step_max[rows] + 1e-12)
        step_max[rows[grow]] *= 4.0
        step_max[rows[~ok]] = np.maximum(1.0, step_max[rows[~ok]] / 4.0)

    out_certs: list[Certificate] = []
    for i in range(n_rows):
        if certs[i] is None:
            certs[i] = op.certify(lam[i : i + 1], v[i : i + 1])[0]
            done[i] = certs[i].gap <= tol  # type: ignore[union-attr]
        out_certs.append(certs[i])  # type: ignore[arg-type]
    return v, out_certs, iters, done


def take_rows(ev: Evaluation, mask: Array) -> Evaluation:
    return Evaluation(ev.log_z[mask], ev.log_c[mask], ev.merit[mask])
