"""Samplers of (x, y) pairs that know their own mutual information in nats (benchmark-mi style).

Each is registered in :data:`synthetic.SAMPLERS` and built for a true MI by
:func:`synthetic.get_sampler`; each satisfies :class:`contracts.KnownMISampler`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import digamma, gammaln

from estimators.closed_form import gaussian_mi_from_correlations
from synthetic.checks import check_sample_count
from synthetic.registry import register_sampler

__all__ = [
    "TRANSFORMS",
    "CorrelatedGaussian",
    "StaircaseOptions",
    "StudentTOptions",
    "StudentTPair",
    "TransformedOptions",
    "TransformedPair",
    "rho_for_mi",
    "student_t_mi_correction",
]


def rho_for_mi(mi: float, dim: int) -> float:
    r"""The per-coordinate correlation rho with -dim/2 log(1 - rho^2) = mi.

    Poole et al. 2019 staircase (REFERENCES.md, MI): with dim = 20, I = -10 log(1 - rho^2).
    """
    if not (mi > 0 and math.isfinite(mi)):
        raise ValueError(f"mi must be finite and > 0, got {mi}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    return math.sqrt(-math.expm1(-2.0 * mi / dim))


@dataclass(frozen=True)
class CorrelatedGaussian:
    """x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) eps: d independent pairs with correlation rho.

    The Poole et al. 2019 staircase source (d = 20); I(X; Y) = -d/2 log(1 - rho^2) (REFERENCES.md).

    Example:
        >>> s = CorrelatedGaussian.from_mi(4.0, dim=20); round(s.mutual_information, 12)
        4.0
    """

    rho: float
    dim: int = 20

    def __post_init__(self) -> None:
        if not (0.0 <= abs(self.rho) < 1.0):
            raise ValueError(f"rho must be in (-1, 1), got {self.rho}")
        if self.dim < 1:
            raise ValueError(f"dim must be >= 1, got {self.dim}")

    @classmethod
    def from_mi(cls, mi: float, dim: int = 20) -> CorrelatedGaussian:
        return cls(rho=rho_for_mi(mi, dim), dim=dim)

    @property
    def dim_x(self) -> int:
        return self.dim

    @property
    def dim_y(self) -> int:
        return self.dim

    @property
    def mutual_information(self) -> float:
        return gaussian_mi_from_correlations(np.full(self.dim, self.rho))

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = check_sample_count(n)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim))
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * rng.standard_normal((n, self.dim))
        return x, y

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r"""log p(x, y) - log p(x) - log p(y) of every row (nats), shape (n,): a sum over the d pairs of
        -1/2 log(1 - rho^2) - (rho^2 x^2 - 2 rho x y + rho^2 y^2) / (2 (1 - rho^2))."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        r2 = self.rho**2
        quad = (r2 * (x * x + y * y) - 2.0 * self.rho * x * y) / (2.0 * (1.0 - r2))
        return -0.5 * self.dim * math.log1p(-r2) - np.sum(quad, axis=1)

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho, "dim": self.dim}


def student_t_mi_correction(df: float, dim_x: int, dim_y: int) -> float:
    r"""I(X; Y) of a multivariate Student-t minus the Gaussian MI of the same scale matrix (nats).

    For (X, Y) ~ t_nu(0, S) in d = d_x + d_y dimensions the marginals are t_nu with the sub-blocks
    of S, and h = 1/2 log det S + log[Gamma(nu/2) (nu pi)^{p/2} / Gamma((nu+p)/2)]
    + (nu+p)/2 [psi((nu+p)/2) - psi(nu/2)] in p dimensions (Kotz & Nadarajah 2004, Multivariate
    t Distributions, sec. 1.10; Arellano-Valle, Contreras-Reyes & Genton 2013, Scand. J. Stat.,
    "Shannon entropy and mutual information for multivariate skew-elliptical distributions").
    I = h(X) + h(Y) - h(X, Y): the log det terms give the Gaussian MI, the (nu pi)^{p/2} cancel,
    and what is left is

        c = log G(nu/2) + log G((nu+d)/2) - log G((nu+d_x)/2) - log G((nu+d_y)/2)
            + (nu+d_x)/2 psi((nu+d_x)/2) + (nu+d_y)/2 psi((nu+d_y)/2)
            - (nu+d)/2 psi((nu+d)/2) - nu/2 psi(nu/2)  >= 0,

    which vanishes as nu -> inf. Checked against a Monte-Carlo mean of the log density ratio in
    tests/synthetic/test_samplers.py. (The same correction is used by cbg-ethz/bmi's SplitStudentT.)
    """
    if not (df > 0 and math.isfinite(df)):
        raise ValueError(f"df must be finite and > 0, got {df}")
    nu, dx, dy = float(df), int(dim_x), int(dim_y)
    d = dx + dy
    return float(
        gammaln(nu / 2) + gammaln((nu + d) / 2) - gammaln((nu + dx) / 2) - gammaln((nu + dy) / 2)
        + (nu + dx) / 2 * digamma((nu + dx) / 2) + (nu + dy) / 2 * digamma((nu + dy) / 2)
        - (nu + d) / 2 * digamma((nu + d) / 2) - nu / 2 * digamma(nu / 2)
    )


@dataclass(frozen=True)
class StudentTPair:
    """(x, y) = (g_x, g_y) / sqrt(W / nu), (g_x, g_y) the correlated Gaussian pair, W ~ chi^2_nu.

    A multivariate t with nu = ``df`` degrees of freedom and scale [[I, rho I], [rho I, I]]. The
    shared scale W makes x and y dependent even at rho = 0, so
    I = -d/2 log(1 - rho^2) + :func:`student_t_mi_correction` (df, d, d).
    """

    rho: float
    df: float = 5.0
    dim: int = 20

    def __post_init__(self) -> None:
        if not (0.0 <= abs(self.rho) < 1.0):
            raise ValueError(f"rho must be in (-1, 1), got {self.rho}")
        if not (self.df > 0 and math.isfinite(self.df)):
            raise ValueError(f"df must be finite and > 0, got {self.df}")

    @classmethod
    def from_mi(cls, mi: float, df: float = 5.0, dim: int = 20) -> StudentTPair:
        """The pair whose total MI is ``mi``: the Gaussian part is ``mi`` minus the t correction."""
        c = student_t_mi_correction(df, dim, dim)
        if not mi > c:
            raise ValueError(
                f"mi must exceed the Student-t correction {c:.4f} nats for df={df}, dim={dim}; got {mi}"
            )
        return cls(rho=rho_for_mi(mi - c, dim), df=df, dim=dim)

    @property
    def dim_x(self) -> int:
        return self.dim

    @property
    def dim_y(self) -> int:
        return self.dim

    @property
    def mutual_information(self) -> float:
        gauss = gaussian_mi_from_correlations(np.full(self.dim, self.rho)) if self.rho else 0.0
        return gauss + student_t_mi_correction(self.df, self.dim, self.dim)

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = check_sample_count(n)
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, self.dim))
        y = self.rho * x + math.sqrt(1.0 - self.rho**2) * rng.standard_normal((n, self.dim))
        scale = np.sqrt(self.df / rng.chisquare(self.df, size=(n, 1)))
        return x * scale, y * scale

    def log_density_ratio(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log p(x, y) - log p(x) - log p(y) (for Monte-Carlo checks of the closed form)."""
        from scipy.stats import multivariate_t

        d = self.dim
        eye = np.eye(d)
        joint = np.block([[eye, self.rho * eye], [self.rho * eye, eye]])
        lj = multivariate_t(loc=np.zeros(2 * d), shape=joint, df=self.df).logpdf(np.hstack([x, y]))
        lm = multivariate_t(loc=np.zeros(d), shape=eye, df=self.df)
        return lj - lm.logpdf(x) - lm.logpdf(y)

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The pointwise MI log p(x, y) - log p(x) - log p(y) (nats): :meth:`log_density_ratio`."""
        return self.log_density_ratio(x, y)

    def params(self) -> dict[str, Any]:
        return {"rho": self.rho, "df": self.df, "dim": self.dim}


def _cube(a: np.ndarray) -> np.ndarray:
    return a**3


def _identity(a: np.ndarray) -> np.ndarray:
    return a


TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # strictly increasing, coordinate-wise
    "cube": _cube,
    "exp": np.exp,
    "sinh": np.sinh,
    "identity": _identity,
}


@dataclass(frozen=True)
class TransformedPair:
    """(f(x), g(y)) for the correlated Gaussian pair, f and g strictly increasing coordinate-wise.

    Invertible maps of x and of y leave I(X; Y) unchanged (Cover & Thomas 2nd ed., 8.6; Kraskov
    et al. 2004, sec. II), so the truth is the Gaussian's; the estimators see heavy-tailed,
    skewed marginals. Defaults: x -> x^3, y -> exp(y).
    """

    base: CorrelatedGaussian
    fx: str = "cube"
    fy: str = "exp"

    def __post_init__(self) -> None:
        for name, f in (("fx", self.fx), ("fy", self.fy)):
            if f not in TRANSFORMS:
                raise ValueError(f"{name} must be one of {sorted(TRANSFORMS)}, got {f!r}")

    @classmethod
    def from_mi(cls, mi: float, dim: int = 20, fx: str = "cube", fy: str = "exp") -> TransformedPair:
        return cls(base=CorrelatedGaussian.from_mi(mi, dim), fx=fx, fy=fy)

    @property
    def dim_x(self) -> int:
        return self.base.dim

    @property
    def dim_y(self) -> int:
        return self.base.dim

    @property
    def mutual_information(self) -> float:
        return self.base.mutual_information

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.base.sample(n, seed)
        return TRANSFORMS[self.fx](x), TRANSFORMS[self.fy](y)

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The pointwise MI (nats): the Gaussian's at (f^{-1}(x), g^{-1}(y)), the Jacobians cancelling."""
        inverses: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "cube": np.cbrt, "exp": np.log, "sinh": np.arcsinh, "identity": _identity,
        }
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return self.base.pmi(inverses[self.fx](x), inverses[self.fy](y))

    def params(self) -> dict[str, Any]:
        return {**self.base.params(), "fx": self.fx, "fy": self.fy}


Transform = Literal["cube", "exp", "sinh", "identity"]


@dataclass(frozen=True)
class StaircaseOptions:
    """Parameters of ``staircase`` besides the true MI."""

    dim: int = field(default=20, metadata={"help": "dimension of x and of y (Poole et al. 2019 use 20)"})


@dataclass(frozen=True)
class StudentTOptions:
    """Parameters of ``student-t`` besides the true MI."""

    df: float = field(default=5.0, metadata={"help": "degrees of freedom of the multivariate t"})
    dim: int = field(default=20, metadata={"help": "dimension of x and of y"})


@dataclass(frozen=True)
class TransformedOptions:
    """Parameters of ``transformed`` besides the true MI."""

    dim: int = field(default=20, metadata={"help": "dimension of x and of y"})
    fx: Transform = field(default="cube", metadata={"help": "strictly increasing map applied to x"})
    fy: Transform = field(default="exp", metadata={"help": "strictly increasing map applied to y"})


@register_sampler("staircase", options=StaircaseOptions)
def staircase(mi: float, dim: int = 20) -> CorrelatedGaussian:
    """Correlated Gaussians, the Poole et al. 2019 staircase: I = -dim/2 log(1 - rho^2)."""
    return CorrelatedGaussian.from_mi(mi, dim)


@register_sampler("student-t", options=StudentTOptions)
def student_t(mi: float, df: float = 5.0, dim: int = 20) -> StudentTPair:
    """A multivariate Student-t pair: the Gaussian MI plus the closed-form t correction."""
    return StudentTPair.from_mi(mi, df=df, dim=dim)


@register_sampler("transformed", options=TransformedOptions)
def transformed(mi: float, dim: int = 20, fx: Transform = "cube", fy: Transform = "exp") -> TransformedPair:
    """Correlated Gaussians seen through strictly increasing maps (the MI is unchanged)."""
    return TransformedPair.from_mi(mi, dim, fx=fx, fy=fy)
