"""Quadratic Gaussian two-terminal source coding: the sum rate, its Berger-Tung test channels, and searches (nats).

X1, X2 unit variance with correlation rho are encoded separately and decoded jointly under
E(X1 - X1_hat)^2 <= D1 and E(X2 - X2_hat)^2 <= D2. Gaussian Berger-Tung coding, U_i = X_i + W_i
with independent W_i ~ N(0, n_i) and x_hat_i = E[X_i | U1, U2], is optimal (Wagner, Tavildar &
Viswanath 2008, Thm 1). Write a_i = 1 / n_i (a_i = 0: encoder i sends nothing) and c = 1 - rho^2.
With K the source covariance, I(X1, X2; U1, U2) = 1/2 log det(I + K diag(a)) and the error
covariance is (K^{-1} + diag(a))^{-1}, which for 2 x 2 give

    Delta = 1 + a1 + a2 + c a1 a2,  R_sum = 1/2 log Delta,
    D1 = (1 + c a2) / Delta,        D2 = (1 + c a1) / Delta.

**Case analysis of the minimum sum rate** (derived here; d_i = min(D_i, 1), since D_i <= 1 holds
for every a >= 0, a constraint D_i >= 1 is the same as D_i = 1):

- *Only D1 active* when d2 >= 1 - rho^2 (1 - d1): encoder 1 alone at R = 1/2 log(1 / d1)
  (a1 = 1/d1 - 1, a2 = 0) leaves X2 with error 1 - rho^2 + rho^2 d1 <= d2. Nothing cheaper meets D1:
  WTV's (and Oohama's 1997) bound R1 >= 1/2 log+[(1 - rho^2 + rho^2 e^{-2 R2}) / D1] makes
  R1 + R2 increasing in R2 (derivative (1 - rho^2) / (1 - rho^2 + rho^2 e^{-2 R2}) > 0), so R2 = 0.
- *Only D2 active*: the mirror image, d1 >= 1 - rho^2 (1 - d2): R = 1/2 log(1 / d2).
- *Both active* otherwise: D1 = d1 and D2 = d2 give a2 = (d1 Delta - 1)/c, a1 = (d2 Delta - 1)/c,
  and substituting into Delta leaves d1 d2 Delta^2 - c Delta - rho^2 = 0, whose positive root is
  WTV's Delta = c beta / (2 d1 d2), beta = 1 + sqrt(1 + 4 rho^2 d1 d2 / c^2) (their R_sum(D1, D2)
  in Thm 1). a2 >= 0 iff d1 Delta >= 1 iff d2 <= 1 - rho^2 (1 - d1), so the three regimes
  partition the (D1, D2) quadrant, and R_sum = 1/2 log Delta is > 0 there.
- *Neither*: D1 >= 1 and D2 >= 1, rate 0.

Equivalently R_sum(D1, D2) = max{R(D1), R(D2), 1/2 log+[c beta / (2 D1 D2)]}: WTV's region is the
intersection of their sets R1(D1), R2(D2) and R_sum(D1, D2), and the sum-rate formula alone (as
REFERENCES.md states it) is too low whenever one constraint is slack: e.g. D2 -> inf sends it to 0
while X1 still needs 1/2 log(1 / D1).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
from scipy.optimize import minimize_scalar

from synthetic.checks import check_correlation, check_noise_variance, check_positive

__all__ = [
    "BergerTungPoint",
    "SumRateSearch",
    "berger_tung_gaussian",
    "centralized_gaussian_rd",
    "two_terminal_noise_variances",
    "two_terminal_regime",
    "two_terminal_sum_rate",
    "two_terminal_sum_rate_search",
]

Regime = Literal["both", "first", "second", "none"]


class BergerTungPoint(NamedTuple):
    """Rates (nats) and distortions of Gaussian Berger-Tung test channels, decoding U1 first.

    ``rate_1 = I(X1; U1)`` and ``rate_2 = I(X2; U2 | U1)`` are the corner of the Berger-Tung
    region where U1 is decoded first (Slepian-Wolf order); the other corner is
    ``berger_tung_gaussian(n2, n1, rho)`` with the roles swapped. ``rate_1 + rate_2 == sum_rate``.
    """

    rate_1: float
    rate_2: float
    sum_rate: float
    distortion_1: float
    distortion_2: float


class SumRateSearch(NamedTuple):
    """The best sum rate found by :func:`two_terminal_sum_rate_search` and the noise variances reaching it."""

    sum_rate: float
    noise_1: float
    noise_2: float


def _precision(n: float) -> float:
    return 0.0 if math.isinf(n) else 1.0 / n


def berger_tung_gaussian(n1: float, n2: float, rho: float) -> BergerTungPoint:
    """Closed-form rates and MSEs of U_i = X_i + W_i, W_i ~ N(0, n_i), x_hat_i = E[X_i | U1, U2].

    With a_i = 1/n_i and c = 1 - rho^2 (module docstring): R_sum = I(X1, X2; U1, U2) = 1/2 log Delta,
    I(X1; U1) = 1/2 log(1 + a1), and by the chain rule and the Markov chain U1 - X1 - X2 - U2,
    I(X2; U2 | U1) = R_sum - I(X1; U1) = 1/2 log(1 + a2 (1 + c a1) / (1 + a1)).

    Arguments:
        n1, n2: noise variances in (0, inf]; inf means that encoder sends nothing.
        rho: correlation of X1 and X2, in (-1, 1).

    Example:
        >>> pt = berger_tung_gaussian(1.0, float("inf"), 0.0)
        >>> round(pt.sum_rate, 6), pt.distortion_1, pt.distortion_2  # 1/2 log 2; X2 unseen
        (0.346574, 0.5, 1.0)
    """
    n1 = check_noise_variance(n1, "n1")
    n2 = check_noise_variance(n2, "n2")
    r = check_correlation(rho)
    c = 1.0 - r * r
    a1, a2 = _precision(n1), _precision(n2)
    delta = 1.0 + a1 + a2 + c * a1 * a2
    rate_1 = 0.5 * math.log1p(a1)
    rate_2 = 0.5 * math.log1p(a2 * (1.0 + c * a1) / (1.0 + a1))
    sum_rate = 0.5 * math.log1p(a1 + a2 + c * a1 * a2)
    return BergerTungPoint(rate_1, rate_2, sum_rate, (1.0 + c * a2) / delta, (1.0 + c * a1) / delta)


def _checked(D1: float, D2: float, rho: float) -> tuple[float, float, float]:
    d1 = min(check_positive(D1, "D1"), 1.0)
    d2 = min(check_positive(D2, "D2"), 1.0)
    return d1, d2, check_correlation(rho)


def two_terminal_regime(D1: float, D2: float, rho: float) -> Regime:
    """Which distortion constraints bind at the minimum sum rate (module docstring, case analysis).

    "both": WTV's formula; "first": only D1 (encoder 2 silent); "second": only D2; "none": rate 0.

    Example:
        >>> two_terminal_regime(0.1, 0.1, 0.5), two_terminal_regime(0.1, 1.5, 0.5), two_terminal_regime(1, 1, 0.5)
        ('both', 'first', 'none')
    """
    d1, d2, r = _checked(D1, D2, rho)
    if d1 == 1.0 and d2 == 1.0:
        return "none"
    if d2 >= 1.0 - r * r * (1.0 - d1):
        return "first"
    if d1 >= 1.0 - r * r * (1.0 - d2):
        return "second"
    return "both"


def _both_active_delta(d1: float, d2: float, r: float) -> float:
    c = 1.0 - r * r
    beta = 1.0 + math.sqrt(1.0 + 4.0 * r * r * d1 * d2 / (c * c))
    return c * beta / (2.0 * d1 * d2)


def two_terminal_sum_rate(D1: float, D2: float, rho: float) -> float:
    """Minimum sum rate R1 + R2 in nats of the quadratic Gaussian two-terminal problem (WTV 2008, Thm 1).

    "both" regime: 1/2 log[(1 - rho^2) beta / (2 D1 D2)], beta = 1 + sqrt(1 + 4 rho^2 D1 D2 / (1 - rho^2)^2);
    one constraint slack: the single-description rate 1/2 log(1 / D_i) of the other; D1, D2 >= 1: 0.
    See the module docstring for the derivation and :func:`two_terminal_sum_rate_search` for the check.

    Arguments:
        D1, D2: MSE targets, > 0 (values >= 1 are met by estimating with the mean).
        rho: correlation of X1 and X2, in (-1, 1).

    Example:
        >>> round(two_terminal_sum_rate(0.25, 0.25, 0.0), 6)  # independent: 2 x 1/2 log 4
        1.386294
        >>> round(two_terminal_sum_rate(0.25, 5.0, 0.9), 6)  # X2 comes free with X1: 1/2 log 4
        0.693147
    """
    regime = two_terminal_regime(D1, D2, rho)
    d1, d2, r = _checked(D1, D2, rho)
    if regime == "none":
        return 0.0
    if regime == "first":
        return 0.5 * math.log(1.0 / d1)
    if regime == "second":
        return 0.5 * math.log(1.0 / d2)
    return 0.5 * math.log(_both_active_delta(d1, d2, r))


def two_terminal_noise_variances(D1: float, D2: float, rho: float) -> tuple[float, float]:
    """The noise variances (n1, n2) of the Berger-Tung test channels that reach :func:`two_terminal_sum_rate`.

    Example:
        >>> pt = berger_tung_gaussian(*two_terminal_noise_variances(0.2, 0.3, 0.6), 0.6)
        >>> round(pt.distortion_1, 12), round(pt.distortion_2, 12)
        (0.2, 0.3)
    """
    regime = two_terminal_regime(D1, D2, rho)
    d1, d2, r = _checked(D1, D2, rho)
    inf = math.inf
    if regime == "none":
        return inf, inf
    if regime == "first":
        return d1 / (1.0 - d1), inf
    if regime == "second":
        return inf, d2 / (1.0 - d2)
    c = 1.0 - r * r
    delta = _both_active_delta(d1, d2, r)
    a1, a2 = (d2 * delta - 1.0) / c, (d1 * delta - 1.0) / c
    return (1.0 / a1 if a1 > 0 else inf), (1.0 / a2 if a2 > 0 else inf)


def _precision_matrix(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    A = np.zeros(np.broadcast(a1, a2).shape + (2, 2))
    A[..., 0, 0], A[..., 1, 1] = a1, a2
    return A


def _generic_errors(a1: np.ndarray, a2: np.ndarray, K_inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSEs from the matrices themselves (no hand algebra): the diagonal of (K^-1 + A)^-1."""
    err = np.linalg.inv(K_inv + _precision_matrix(a1, a2))
    return err[..., 0, 0], err[..., 1, 1]


def _generic_rate(a1: np.ndarray, a2: np.ndarray, K: np.ndarray) -> np.ndarray:
    """I(X1, X2; U1, U2) = 1/2 log det(I + K A) from the matrices themselves."""
    return 0.5 * np.linalg.slogdet(np.eye(2) + K @ _precision_matrix(a1, a2))[1]


def _least_a2(a1: np.ndarray, d1: float, d2: float, K_inv: np.ndarray, top: float, steps: int = 80) -> np.ndarray:
    """Smallest a2 in [0, top] meeting both constraints at each a1 (MSEs only fall as a2 grows), inf if none."""
    a1 = np.asarray(a1, dtype=np.float64)

    def feasible(a2: np.ndarray) -> np.ndarray:
        e1, e2 = _generic_errors(a1, a2, K_inv)
        return (e1 <= d1) & (e2 <= d2)

    lo, hi = np.zeros_like(a1), np.full_like(a1, top)
    for _ in range(steps):  # bisection on [0, top]: 80 halvings leave a2 within top * 1e-24
        mid = 0.5 * (lo + hi)
        ok = feasible(mid)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.where(feasible(np.zeros_like(a1)), 0.0, np.where(feasible(np.full_like(a1, top)), hi, np.inf))


def two_terminal_sum_rate_search(D1: float, D2: float, rho: float, *, grid_size: int = 400) -> SumRateSearch:
    """Brute-force minimum of I(X1, X2; U1, U2) over (n1, n2) in [0, inf]^2 subject to both MSE constraints.

    An independent check of :func:`two_terminal_sum_rate`: it uses only the matrices (rate
    1/2 log det(I + K A), errors from (K^-1 + A)^-1, A = diag(1/n1, 1/n2)), never the case analysis.
    Sending X1 and X2 separately is feasible at Delta_0 = 1 / (min(D1,1) min(D2,1)), and Delta >= 1 + a_i,
    so the optimum has both precisions a_i <= Delta_0. For each a1 on {0} and a log grid up to Delta_0,
    the least feasible a2 comes from bisection (the MSEs fall as a2 grows and the rate rises, so the
    least feasible a2 is best); the best grid cell is refined with bounded Brent on a1 (xatol 1e-13
    relative). a_i = 0 (n_i = inf) is included on both axes.

    Returns:
        :class:`SumRateSearch` (sum rate in nats, n1, n2).

    Example:
        >>> abs(two_terminal_sum_rate_search(0.2, 0.3, 0.6).sum_rate - two_terminal_sum_rate(0.2, 0.3, 0.6)) < 1e-7
        True
    """
    d1, d2, r = _checked(D1, D2, rho)
    if isinstance(grid_size, bool) or not isinstance(grid_size, (int, np.integer)) or grid_size < 3:
        raise ValueError(f"grid_size must be an integer >= 3, got {grid_size!r}")
    top = 1.0 / (d1 * d2)
    grid = np.concatenate([[0.0], np.geomspace(1e-9, top, int(grid_size))])

    K = np.array([[1.0, r], [r, 1.0]])
    K_inv = np.linalg.inv(K)

    def rate_at(a1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a2 = _least_a2(a1, d1, d2, K_inv, top)
        rate = _generic_rate(a1, np.where(np.isfinite(a2), a2, 0.0), K)
        return np.where(np.isfinite(a2), rate, np.inf), a2

    rates, a2s = rate_at(grid)
    i = int(np.argmin(rates))
    best_rate, best_a1, best_a2 = float(rates[i]), float(grid[i]), float(a2s[i])
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    if hi > lo:
        res = minimize_scalar(
            lambda a: min(float(rate_at(np.array([a]))[0][0]), 1e3),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-13 * max(hi, 1.0)},
        )
        rate, a2 = rate_at(np.array([res.x]))
        if float(rate[0]) < best_rate:
            best_rate, best_a1, best_a2 = float(rate[0]), float(res.x), float(a2[0])
    noise = tuple(math.inf if a == 0 else 1.0 / a for a in (best_a1, best_a2))
    return SumRateSearch(best_rate, noise[0], noise[1])


def centralized_gaussian_rd(D1: float, D2: float, rho: float) -> float:
    """Joint R(D1, D2) in nats: one encoder sees (X1, X2); per-component MSE constraints (a lower bound on R_sum).

    R = min 1/2 log(det K / det S) over error covariances S with 0 <= S <= K (Loewner) and
    S_ii <= D_i (Gaussian test channels are optimal for a Gaussian source; not reverse water-filling,
    which meets only a total-distortion constraint). The solution, as in Xiao & Luo (Allerton 2005,
    "Compression of correlated Gaussian sources under individual distortion criteria"), derived here:

    - If S = diag(d1, d2) fits under K, i.e. (1 - d1)(1 - d2) >= rho^2, it maximises det S:
      R = 1/2 log((1 - rho^2) / (d1 d2)).
    - Otherwise K - S is rank one at the optimum: S = K - v v^T, R = -1/2 log(1 - v^T K^-1 v), and
      S_ii <= d_i reads v_i^2 >= 1 - d_i. With a = |v1| >= alpha = sqrt(1 - d1), b = |v2| >= beta =
      sqrt(1 - d2) and signs matching rho, v^T K^-1 v = (a^2 + b^2 - 2 |rho| a b) / (1 - rho^2), whose
      minimum over b for given a is at b = max(beta, |rho| a) (and alike in a). So: if |rho| alpha >=
      beta, D2 comes free with X1 described at D1 and R = 1/2 log(1 / d1); if |rho| beta >= alpha,
      R = 1/2 log(1 / d2); else both bind, a = alpha, b = beta.

    The tests check this against a direct search over S.

    Example:
        >>> round(centralized_gaussian_rd(0.25, 0.25, 0.0), 6)
        1.386294
    """
    d1, d2, r = _checked(D1, D2, rho)
    c = 1.0 - r * r
    if (1.0 - d1) * (1.0 - d2) >= r * r:
        return max(0.0, 0.5 * math.log(c / (d1 * d2)))
    alpha, beta = math.sqrt(1.0 - d1), math.sqrt(1.0 - d2)
    if abs(r) * alpha >= beta:
        return 0.5 * math.log(1.0 / d1)
    if abs(r) * beta >= alpha:
        return 0.5 * math.log(1.0 / d2)
    q = (alpha * alpha + beta * beta - 2.0 * abs(r) * alpha * beta) / c
    return -0.5 * math.log1p(-q)
