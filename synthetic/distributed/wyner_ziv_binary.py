"""Wyner-Ziv rate-distortion function of the doubly symmetric binary source under Hamming distortion (nats).

X ~ Bern(1/2), Y = X xor Z with Z ~ Bern(p) independent, Y at the decoder only. Wyner & Ziv (1976,
their binary example): R_WZ(D) is the lower convex envelope of
g(D) = h(p * D) - h(D) on 0 <= D < p and the point (p, 0), with p * D = p (1 - D) + D (1 - p).
g is convex near 0 and concave near p, so the envelope follows g up to the tangent point d_c and
then the straight line from (d_c, g(d_c)) to (p, 0); d_c solves g(d_c) / (d_c - p) = g'(d_c).
Against Y at both ends, R_{X|Y}(D) = h(p) - h(D) (the encoder codes Z = X xor Y): unlike the Gaussian case
there is a rate loss, R_WZ(D) > R_{X|Y}(D) for 0 < D < p < 1/2.

A crossover p > 1/2 is the same source with Y flipped, so p is replaced by min(p, 1 - p).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from synthetic.checks import check_probability
from synthetic.rd import binary_entropy, binary_rd

__all__ = [
    "binary_conditional_rd",
    "wyner_ziv_binary_critical_distortion",
    "wyner_ziv_binary_g",
    "wyner_ziv_binary_rd",
    "wyner_ziv_binary_tangent_point",
]

_TINY = 1e-300  # left end of root brackets: g'(D) -> -inf as D -> 0


def _crossover(p: float) -> float:
    p = check_probability(p, "p")
    return min(p, 1.0 - p)


def _check_D(D: float) -> float:
    v = float(D)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"D must lie in [0, 1], got {D!r}")
    return v


def wyner_ziv_binary_g(D: float, p: float) -> float:
    """g(D) = h(p * D) - h(D), nats, for 0 <= D <= min(p, 1 - p) (Wyner & Ziv 1976, binary example).

    The rate of U = X xor Bern(D) with x_hat = U: I(X; U | Y) = H(U | Y) - H(U | X).

    Example:
        >>> from scipy.special import entr  # an independent h(0.25)
        >>> round(wyner_ziv_binary_g(0.0, 0.25), 12) == round(float(entr(0.25) + entr(0.75)), 12)
        True
    """
    q = _crossover(p)
    D = _check_D(D)
    if D > q:
        raise ValueError(f"D must lie in [0, min(p, 1 - p)] = [0, {q}], got {D!r}")
    return binary_entropy(q + D * (1.0 - 2.0 * q)) - binary_entropy(D)


def _g_prime(D: float, q: float) -> float:
    pd = q + D * (1.0 - 2.0 * q)
    return (1.0 - 2.0 * q) * math.log((1.0 - pd) / pd) - math.log((1.0 - D) / D)


def wyner_ziv_binary_critical_distortion(p: float) -> float:
    """The tangent point d_c in (0, p]: g(d_c) + (p - d_c) g'(d_c) = 0, by Brent's root finder.

    phi(D) = g(D) + (p - D) g'(D) has phi' = (p - D) g'', so it rises while g is convex, from -inf
    at D -> 0 (g' -> -inf) to a maximum, then falls to phi(p) = g(p) > 0: one sign change, the root.
    At p = 1/2 (Y useless) g = log 2 - h(D) is convex on [0, 1/2] and d_c = 1/2; at p = 0, d_c = 0.

    Example:
        >>> d_c = wyner_ziv_binary_critical_distortion(0.25)
        >>> 0 < d_c < 0.25
        True
    """
    q = _crossover(p)
    if q == 0.0 or q == 0.5:
        return q

    def phi(D: float) -> float:
        return binary_entropy(q + D * (1.0 - 2.0 * q)) - binary_entropy(D) + (q - D) * _g_prime(D, q)

    return float(brentq(phi, _TINY, q, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))


def wyner_ziv_binary_rd(D: float, p: float) -> float:
    """R_WZ(D) in nats of the doubly symmetric binary source, Hamming distortion (Wyner & Ziv 1976).

    g(D) for D <= d_c, g(d_c) (p - D) / (p - d_c) for d_c < D < p (time sharing with the zero-rate
    point x_hat = Y at D = p), and 0 for D >= p.

    Arguments:
        D: Hamming distortion in [0, 1].
        p: crossover probability of the side information, in [0, 1].

    Example:
        >>> round(wyner_ziv_binary_rd(0.0, 0.25), 12) == round(wyner_ziv_binary_g(0.0, 0.25), 12)  # lossless: H(X|Y)
        True
        >>> wyner_ziv_binary_rd(0.3, 0.25)
        0.0
    """
    q = _crossover(p)
    D = _check_D(D)
    if D >= q:
        return 0.0
    d_c = wyner_ziv_binary_critical_distortion(q)
    if D <= d_c:
        return wyner_ziv_binary_g(D, q)
    return wyner_ziv_binary_g(d_c, q) * (q - D) / (q - d_c)


def wyner_ziv_binary_tangent_point(slope: float, p: float) -> tuple[float, float]:
    """The point (D, R_WZ(D)) minimising R_WZ(D) + slope D: where the curve has slope -``slope``.

    For slope >= s_c = g(d_c) / (p - d_c) it is on g, g'(D) = -slope (root found on (0, d_c]); for
    smaller slopes it is (p, 0). At slope = s_c the whole segment ties; (d_c, g(d_c)) is returned.

    Example:
        >>> D, R = wyner_ziv_binary_tangent_point(0.01, 0.25)
        >>> (D, R)
        (0.25, 0.0)
    """
    s = float(slope)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"slope must be finite and > 0, got {slope!r}")
    q = _crossover(p)
    if q == 0.0:
        return 0.0, 0.0
    d_c = wyner_ziv_binary_critical_distortion(q)
    s_c = -_g_prime(d_c, q) if q < 0.5 else 0.0
    if s < s_c:
        return q, 0.0
    D = float(brentq(lambda x: _g_prime(x, q) + s, _TINY, d_c, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500))
    return D, wyner_ziv_binary_g(D, q)


def binary_conditional_rd(D: float, p: float) -> float:
    """R_{X|Y}(D) = h(p) - h(D) for D < min(p, 1 - p), else 0 (nats): Y at encoder and decoder.

    Given Y, X is Bern(p) (the error Z = X xor Y), so the encoder codes Z: the binary R(D) of Bern(p)
    (Cover & Thomas 2006, Thm 10.3.1).

    Example:
        >>> binary_conditional_rd(0.25, 0.25)
        0.0
    """
    # given Y, the encoder codes Z = X xor Y ~ Bern(p): the binary R(D) itself
    return binary_rd(_crossover(p), _check_D(D))
