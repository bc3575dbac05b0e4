"""Wyner-Ziv coding of a Gaussian source with jointly Gaussian side information at the decoder (nats, MSE).

(X, Y) jointly Gaussian, Var X = ``variance``, correlation ``rho``. Wyner (1978) showed that the
rate with Y at the decoder only equals the conditional rate-distortion function R_{X|Y}(D), the rate
with Y at both ends: R_WZ(D) = max(0, 1/2 log(s2 (1 - rho^2) / D)) (REFERENCES.md, "Source-channel").
The test channel that achieves it is U = X + W, W ~ N(0, n) independent of (X, Y), with the decoder
x_hat = E[X | U, Y]; :func:`wz_gaussian_test_channel` gives its rate and distortion in closed form.
"""

from __future__ import annotations

import math

from synthetic.checks import check_correlation, check_noise_variance, check_positive

__all__ = [
    "conditional_variance",
    "gaussian_rd_without_side_information",
    "wyner_ziv_gaussian_rd",
    "wz_gaussian_estimator_weights",
    "wz_gaussian_test_channel",
]


def conditional_variance(variance: float = 1.0, *, rho: float) -> float:
    """Var(X | Y) = s2 (1 - rho^2) for jointly Gaussian (X, Y): the MMSE of estimating X from Y alone.

    Arguments:
        variance: Var X = s2 > 0.
        rho: correlation of X and Y, in [-1, 1].

    Example:
        >>> conditional_variance(2.0, rho=0.5)
        1.5
    """
    s2 = check_positive(variance, "variance")
    r = check_correlation(rho, closed=True)
    return s2 * (1.0 - r * r)


def gaussian_rd_without_side_information(D: float, variance: float = 1.0) -> float:
    """R(D) = max(0, 1/2 log(s2 / D)) in nats: the same source with no side information anywhere.

    Example:
        >>> round(gaussian_rd_without_side_information(0.25), 6)  # 1/2 log 4
        0.693147
    """
    D = check_positive(D, "D")
    s2 = check_positive(variance, "variance")
    return max(0.0, 0.5 * math.log(s2 / D))


def wyner_ziv_gaussian_rd(D: float, variance: float = 1.0, *, rho: float) -> float:
    """R_WZ(D) = max(0, 1/2 log(s2 (1 - rho^2) / D)) in nats (Wyner 1978; equals R_{X|Y}(D)).

    No rate is lost against side information at both ends, unlike the binary case
    (:func:`synthetic.distributed.wyner_ziv_binary_rd`). At rho = +-1 the decoder knows X: rate 0.

    Arguments:
        D: mean squared error, > 0.
        variance: Var X = s2 > 0.
        rho: correlation of X and the side information Y, in [-1, 1].

    Example:
        >>> round(wyner_ziv_gaussian_rd(0.25, rho=0.0), 6) == round(gaussian_rd_without_side_information(0.25), 6)
        True
        >>> wyner_ziv_gaussian_rd(0.5, rho=0.8)  # Var(X|Y) = 0.36 < D: free
        0.0
    """
    D = check_positive(D, "D")
    c = conditional_variance(variance, rho=rho)
    if c <= D:
        return 0.0
    return 0.5 * math.log(c / D)


def wz_gaussian_test_channel(noise_variance: float, variance: float = 1.0, *, rho: float) -> tuple[float, float]:
    """Rate I(X; U | Y) and distortion E[(X - E[X | U, Y])^2] of the test channel U = X + W, W ~ N(0, n).

    Given Y, X is N(m(Y), c) with c = s2 (1 - rho^2), and U = X + W adds independent noise, so
    I(X; U | Y) = 1/2 log(1 + c / n) and the posterior variance is c n / (c + n) (the precisions
    1/c and 1/n add). Eliminating n: rate = 1/2 log(c / D) at D = c n / (c + n), i.e. every
    noise variance sits exactly on R_WZ (Wyner 1978).

    Arguments:
        noise_variance: n in [0, inf]; 0 sends X exactly (infinite rate), inf sends nothing.
        variance: Var X = s2 > 0.
        rho: correlation of X and Y, in [-1, 1].

    Returns:
        (rate in nats, distortion).

    Example:
        >>> rate, D = wz_gaussian_test_channel(1.0, rho=0.0)
        >>> round(rate, 6), D  # 1/2 log 2, 1/2
        (0.346574, 0.5)
    """
    n = check_noise_variance(noise_variance, "noise_variance", allow_zero=True)
    c = conditional_variance(variance, rho=rho)
    if c == 0.0:
        return 0.0, 0.0
    if math.isinf(n):
        return 0.0, c
    if n == 0.0:
        return math.inf, 0.0
    return 0.5 * math.log1p(c / n), c * n / (c + n)


def wz_gaussian_estimator_weights(
    noise_variance: float, variance: float = 1.0, *, rho: float, side_variance: float = 1.0
) -> tuple[float, float]:
    """Weights (a_u, a_y) of the decoder's MMSE estimate E[X | U, Y] = a_u U + a_y Y (zero means).

    E[X | Y] = rho sqrt(s2 / s2_Y) Y and Var(X | Y) = c; U = X + W is a noisy look at X given Y,
    so E[X | U, Y] = E[X | Y] + c / (c + n) (U - E[X | Y]): a_u = c / (c + n) and
    a_y = n / (c + n) rho sqrt(s2 / s2_Y). At n = inf: a_u = 0 (U is ignored).

    Arguments:
        noise_variance: n in (0, inf].
        variance: Var X = s2 > 0.
        rho: correlation of X and Y, in [-1, 1].
        side_variance: Var Y > 0.

    Example:
        >>> wz_gaussian_estimator_weights(1.0, rho=0.0)
        (0.5, 0.0)
    """
    n = check_noise_variance(noise_variance, "noise_variance")
    s2_y = check_positive(side_variance, "side_variance")
    c = conditional_variance(variance, rho=rho)
    slope_y = rho * math.sqrt(variance / s2_y)
    if math.isinf(n):
        return 0.0, slope_y
    a_u = c / (c + n)
    return a_u, (1.0 - a_u) * slope_y
