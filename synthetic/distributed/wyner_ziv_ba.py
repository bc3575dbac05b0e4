"""A Blahut-Arimoto-type algorithm for the Wyner-Ziv rate-distortion function of finite sources (nats).

Dupuis, Yu & Willems (ISIT 2004) compute rate-distortion with decoder side information by
alternating minimisation, as Blahut (1972) does without it. With U - X - Y, I(X; U) - I(Y; U) =
I(X; U | Y), and for any r(u|y)

    F(q, r, f) = sum_{x,y,u} p(x,y) q(u|x) [log(q(u|x) / r(u|y)) + s d(x, f(u,y))]
              >= I(X; U | Y) + s E d(X, f(U, Y)),

with equality at r(u|y) = q(u|y) = sum_x p(x|y) q(u|x) (the gap is E_Y KL(q(.|Y) || r(.|Y))). Each
block has a closed-form minimiser: r = q(u|y); the decoder f(u, y) = argmin_xhat sum_x p(x,y) q(u|x)
d(x, xhat); and q(u|x) proportional to exp(sum_y p(y|x) [log r(u|y) - s d(x, f(u,y))]). So F never
increases. For a *fixed* decoder F is jointly convex in (q, r) (q log(q/r) is), and the iteration
converges to the best encoder for that decoder (Csiszar & Tusnady 1984); over decoders the problem
is combinatorial. Two ways to choose it: ``decoders="all"`` runs every table f: U x Y -> Xhat up
to relabelling U (multisets of |U| maps Y -> Xhat: 20 for binary X, Y and |U| = 3) and keeps the
best, so with
|U| = |X| + 1 (enough by Wyner & Ziv's 1976 cardinality bound) it reaches R_WZ at the slope up to convergence;
``decoders="alternate"`` updates f as a third block from random starts, which can stop at a local
minimum (restarts help).

Whatever it returns is an *achievable* point: (E d, I(X; U | Y)) of an actual encoder q(u|x) and
decoder f, so its rate is an upper bound on R_WZ at its distortion, never below it.

The lower bound (``decoders="all"`` only). For a fixed decoder G_f(q) = min_r F(q, r) is convex in q
(partial minimisation of a jointly convex function), with gradient (envelope theorem)
g(x, u) = p(x) log q(u|x) - sum_y p(x, y) log q(u|y) + s sum_y p(x, y) d(x, f(u, y)) up to a
constant per x. Convexity gives, for every q* (Frank & Wolfe 1956; Jaggi 2013, sec. 2),

    G_f(q*) >= G_f(q) + sum_x [min_u g(x, u) - sum_u q(u|x) g(x, u)],

so the right side, minimised over the decoder tables, bounds the least Lagrangian over *all* codes
with |U| = |X| + 1 letters, which Wyner & Ziv's cardinality bound makes the least over all codes. As
R_WZ is convex, R_WZ(D) >= L - s D at every D (:attr:`WynerZivPoint.lagrangian_lower`): a certified
bracket [L - s D, rate] at the returned D, as :mod:`synthetic.ba` gives for R(D).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

__all__ = ["WynerZivPoint", "wyner_ziv_blahut_arimoto"]

MAX_DECODER_TABLES = 4096


class WynerZivPoint(NamedTuple):
    """One achievable Wyner-Ziv point: distortion, rate I(X; U | Y) in nats, and the code that reaches it.

    ``lagrangian = rate + slope * distortion``; ``encoder[x, u] = q(u|x)``; ``decoder[u, y]`` is the
    index of the reproduction; ``converged`` says whether F stopped changing by more than ``tol``.
    """

    distortion: float
    rate: float
    lagrangian: float
    encoder: np.ndarray
    decoder: np.ndarray
    iterations: int
    converged: bool
    lagrangian_lower: float = math.nan
    """A certified lower bound on min over all codes of I(X; U | Y) + slope E d (``decoders="all"``; NaN
    otherwise): R_WZ(D) >= lagrangian_lower - slope D for every D (module docstring)."""

    @property
    def rate_lower(self) -> float:
        """The certified lower bound on R_WZ at this point's distortion, max(0, L - slope D)."""
        return max(0.0, self.lagrangian_lower - (self.lagrangian - self.rate))


def _check_joint_pmf(p_xy: ArrayLike) -> np.ndarray:
    P = np.asarray(p_xy, dtype=np.float64)
    if P.ndim != 2 or P.size == 0:
        raise ValueError(f"p_xy must be a 2-D joint pmf p(x, y), got shape {P.shape}")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise ValueError("p_xy must be a pmf: entries finite and >= 0")
    total = float(P.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"p_xy must sum to 1 within 1e-9, got sum {total!r}")
    P = P / total
    if np.any(P.sum(axis=1) == 0) or np.any(P.sum(axis=0) == 0):
        raise ValueError("p_xy must give every x and every y positive probability (drop unused letters)")
    return P


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _objective(P: np.ndarray, log_q: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, ...]:
    """(rate, distortion, log r) per batch entry, r = q(u|y) so rate = I(X; U | Y) exactly."""
    p_x_given_y = P / P.sum(axis=0)
    with np.errstate(divide="ignore"):
        log_r = logsumexp(np.log(p_x_given_y)[None, :, None, :] + log_q[..., None], axis=1)  # (B, u, y)
        q = np.exp(log_q)
        joint = P[None, :, None, :] * q[..., None]  # p(x, y) q(u|x), (B, x, u, y)
        log_ratio = np.where(joint > 0, log_q[..., None] - log_r[:, None, :, :], 0.0)
    rate = np.maximum((joint * log_ratio).sum(axis=(1, 2, 3)), 0.0)
    distortion = (joint * cost).sum(axis=(1, 2, 3))
    return rate, distortion, log_r


def wyner_ziv_blahut_arimoto(
    p_xy: ArrayLike,
    distortion: ArrayLike,
    slope: float,
    *,
    n_aux: int | None = None,
    decoders: Literal["all", "alternate"] = "all",
    restarts: int | None = None,
    seed: int = 0,
    max_iter: int = 20_000,
    tol: float = 1e-13,
) -> WynerZivPoint:
    """An achievable point of R_WZ(D) at slope ``slope`` by alternating minimisation (Dupuis, Yu & Willems 2004).

    Minimises I(X; U | Y) + slope E d(X, f(U, Y)) over encoders q(u|x) and decoders f (module
    docstring). The returned rate is computed exactly for the returned code, so it is an upper
    bound on R_WZ at the returned distortion; with ``decoders="all"`` and ``n_aux = |X| + 1`` it is
    also the minimum at that slope, up to convergence.

    Arguments:
        p_xy: joint pmf of (X, Y), shape (|X|, |Y|), every marginal letter with positive mass.
        distortion: d(x, xhat) >= 0, shape (|X|, |Xhat|).
        slope: s > 0, nats per unit distortion; the point sits where R_WZ has slope -s.
        n_aux: |U| >= 1; default |X| + 1.
        decoders: "all" (every decoder table, each with the convex encoder iteration) or
            "alternate" (the decoder is a third block of the alternation, from random starts).
        restarts: random encoder starts per decoder table ("all"; default 1, each table's problem
            is convex) or in total ("alternate"; default 16), >= 1.
        seed: seed of the random starts (Dirichlet(1) rows of q(u|x), uniform random decoders).
        max_iter: most iterations, >= 1.
        tol: stop when F falls by at most tol (relative to max(1, |F|)), > 0.

    Returns:
        :class:`WynerZivPoint` of the best start (smallest Lagrangian).

    Example:
        >>> P = 0.5 * np.array([[0.9, 0.1], [0.1, 0.9]])  # doubly symmetric, p = 0.1
        >>> pt = wyner_ziv_blahut_arimoto(P, 1 - np.eye(2), 0.5)  # shallow slope: x_hat = y, no rate
        >>> round(pt.distortion, 9), round(pt.rate, 9)
        (0.1, 0.0)
    """
    P = _check_joint_pmf(p_xy)
    n_x, n_y = P.shape
    d = np.asarray(distortion, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != n_x or d.shape[1] < 1:
        raise ValueError(f"distortion must have shape ({n_x}, m) with m >= 1, got {d.shape}")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("distortion must be finite and >= 0 everywhere")
    s = float(slope)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"slope must be finite and > 0, got {slope!r}")
    n_u = n_x + 1 if n_aux is None else _check_int(n_aux, "n_aux", 1)
    if decoders not in ("all", "alternate"):
        raise ValueError(f"decoders must be 'all' or 'alternate', got {decoders!r}")
    if restarts is None:
        restarts = 1 if decoders == "all" else 16
    restarts = _check_int(restarts, "restarts", 1)
    max_iter = _check_int(max_iter, "max_iter", 1)
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    n_hat = d.shape[1]
    rng = np.random.default_rng(seed)

    if decoders == "all":
        # relabelling U changes nothing, so a table is a multiset of |U| rows f(u, .) : Y -> Xhat
        n_rows = n_hat**n_y
        n_tables = math.comb(n_rows + n_u - 1, n_u)
        if n_tables > MAX_DECODER_TABLES:
            raise ValueError(
                f"decoders='all' needs C(|Xhat|^|Y| + |U| - 1, |U|) = {n_tables} tables, more than "
                f"{MAX_DECODER_TABLES}; use decoders='alternate' or a smaller n_aux"
            )
        rows = list(itertools.product(range(n_hat), repeat=n_y))
        tables = np.array(list(itertools.combinations_with_replacement(rows, n_u)), dtype=np.int64)
        dec = np.repeat(tables.reshape(-1, n_u, n_y), restarts, axis=0)
    else:
        dec = rng.integers(0, n_hat, size=(restarts, n_u, n_y))
    batch = dec.shape[0]
    log_q = np.log(rng.dirichlet(np.ones(n_u), size=(batch, n_x)))  # (B, x, u)
    p_y_given_x = P / P.sum(axis=1, keepdims=True)
    x_index = np.arange(n_x)[None, :, None, None]

    cost = d[x_index, dec[:, None, :, :]]  # d(x, f(u, y)), (B, x, u, y)
    rate, dist, log_r = _objective(P, log_q, cost)
    F = rate + s * dist
    converged = False
    iterations = 0
    for step in range(1, max_iter + 1):
        iterations = step
        if decoders == "alternate":
            q = np.exp(log_q)
            expected = np.einsum("xy,bxu,xk->buyk", P, q, d)  # E[d(X, k) 1{U=u, Y=y}]
            dec = np.argmin(expected, axis=-1)
            cost = d[x_index, dec[:, None, :, :]]
        with np.errstate(invalid="ignore"):
            score = np.where(p_y_given_x[None, :, None, :] > 0, p_y_given_x[None, :, None, :] * (log_r[:, None] - s * cost), 0.0)
        new = score.sum(axis=-1)
        log_q = new - logsumexp(new, axis=-1, keepdims=True)
        rate, dist, log_r = _objective(P, log_q, cost)
        F_new = rate + s * dist
        change = np.max(np.abs(F - F_new) / np.maximum(1.0, np.abs(F_new)))
        F = F_new
        if change <= tol:
            converged = True
            break
    best = int(np.argmin(F))
    lower = math.nan
    if decoders == "all" and n_u >= n_x + 1:
        lower = float(np.min(F + _frank_wolfe_gap(P, log_q, log_r, cost, s)))
    return WynerZivPoint(
        float(dist[best]), float(rate[best]), float(F[best]), np.exp(log_q[best]), dec[best].copy(), iterations, converged,
        min(lower, float(F[best])),
    )


def _frank_wolfe_gap(P: np.ndarray, log_q: np.ndarray, log_r: np.ndarray, cost: np.ndarray, s: float) -> np.ndarray:
    """sum_x [min_u g(x, u) - sum_u q(u|x) g(x, u)] <= 0 per batch entry (module docstring), g the gradient of
    G_f at q; -inf where some q(u|x) underflowed to 0 (the bound is then void, never wrong)."""
    p_x = P.sum(axis=1)
    with np.errstate(invalid="ignore"):
        grad = (
            p_x[None, :, None] * log_q
            - np.einsum("xy,buy->bxu", P, log_r)
            + s * np.einsum("xy,bxuy->bxu", P, cost)
        )
    q = np.exp(log_q)
    gap = (grad.min(axis=2) - np.where(q > 0, q * grad, 0.0).sum(axis=2)).sum(axis=1)
    return np.where(np.isfinite(gap), gap, -np.inf)
