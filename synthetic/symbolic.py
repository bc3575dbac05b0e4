"""Symbolic derivations (sympy) of the closed forms that the numeric code implements."""

from __future__ import annotations

import sympy as sp

__all__ = ["gaussian_rd_expr", "optimal_distortion_expr", "laplace_entropy_expr", "laplace_slb_expr", "symbols"]

s2, D, beta, b, x = sp.symbols("sigma2 D beta b x", positive=True)
symbols = {"variance": s2, "D": D, "beta": beta, "scale": b}


def gaussian_rd_expr() -> sp.Expr:
    """R(D) of N(0, s2) derived as h(X) - h(N(0, D)) (Cover & Thomas Thm 10.3.2), for D < s2."""
    h = lambda var: sp.Rational(1, 2) * sp.log(2 * sp.pi * sp.E * var)  # noqa: E731
    return sp.simplify(h(s2) - h(D))


def optimal_distortion_expr() -> sp.Expr:
    """The D minimising D + beta * R(D) for the Gaussian; also checks dR/dD = -1/beta there."""
    R = gaussian_rd_expr()
    (d_star,) = sp.solve(sp.diff(D + beta * R, D), D)
    assert sp.simplify(sp.diff(R, D).subs(D, d_star) + 1 / beta) == 0
    return d_star


def laplace_entropy_expr() -> sp.Expr:
    """h(X) = -int p log p for p(x) = exp(-|x|/b)/(2b), integrated symbolically on x > 0 and doubled."""
    p = sp.exp(-x / b) / (2 * b)
    return sp.simplify(-2 * sp.integrate(p * sp.log(p), (x, 0, sp.oo)))


def laplace_slb_expr() -> sp.Expr:
    """Shannon lower bound h(X) - 1/2 log(2 pi e D) for one Laplace component (Berger 1971, 4.3)."""
    return sp.simplify(laplace_entropy_expr() - sp.Rational(1, 2) * sp.log(2 * sp.pi * sp.E * D))
