"""Invertible maps of X and of Y, which leave I(X; Y) unchanged, and the known-MI samplers they make.

For injective differentiable f and g, I(f(X); g(Y)) = I(X; Y) (Cover & Thomas 2nd ed., 8.6;
Kraskov et al. 2004, sec. II), and the pointwise MI moves with the points:
pmi_{f(X), g(Y)}(f(x), g(y)) = pmi_{X, Y}(x, y), the Jacobians cancelling between the joint and the
marginals. Czyż et al., "Beyond normal: on the evaluation of mutual information estimators",
NeurIPS 2023 (benchmark-mi) use such maps to build hard tasks of known MI from a multinormal or a
Student-t: the half-cube, asinh, the normal CDF, and the spiral, which mixes coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from scipy.special import ndtr, ndtri

from synthetic.checks import check_dim, check_sample_count
from synthetic.mi_tasks import Structure, multinormal
from synthetic.registry import register_sampler
from synthetic.samplers import StudentTPair

__all__ = [
    "Asinh",
    "BendAndMix",
    "BendAndMixOptions",
    "HalfCube",
    "InvertibleMap",
    "MappedOptions",
    "MappedPair",
    "NormalCDF",
    "PMISampler",
    "Spiral",
    "SpiralOptions",
    "Wiggly",
    "WigglyOptions",
    "base_sampler",
    "random_orthogonal",
]

Base = Literal["multinormal", "student-t"]


@runtime_checkable
class InvertibleMap(Protocol):
    """A bijection of R^d (or of R^d onto an open set) applied to the rows of an (n, d) array."""

    def forward(self, u: np.ndarray) -> np.ndarray: ...

    def inverse(self, v: np.ndarray) -> np.ndarray: ...

    def params(self) -> dict[str, Any]: ...


@runtime_checkable
class PMISampler(Protocol):
    """A known-MI sampler that also gives the exact pointwise MI of any (x, y)."""

    dim_x: int
    dim_y: int

    @property
    def mutual_information(self) -> float: ...

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray: ...


def _array(u: np.ndarray) -> np.ndarray:
    return np.asarray(u, dtype=np.float64)


@dataclass(frozen=True)
class HalfCube:
    """u -> u |u|^{1/2} coordinate-wise (benchmark-mi's half-cube): lighter centre, heavier tails.

    Example:
        >>> HalfCube().forward(np.array([[4.0, -1.0]])), HalfCube().inverse(np.array([[8.0]]))
        (array([[ 8., -1.]]), array([[4.]]))
    """

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map; returns an array of the shape of ``u``."""
        u = _array(u)
        return u * np.sqrt(np.abs(u))

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """v -> sign(v) |v|^{2/3}."""
        v = _array(v)
        return np.sign(v) * np.abs(v) ** (2.0 / 3.0)

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "half-cube"}


@dataclass(frozen=True)
class Asinh:
    """u -> asinh(u) coordinate-wise: tames a Student-t's tails to logarithmic ones (benchmark-mi).

    Example:
        >>> float(Asinh().inverse(Asinh().forward(np.array([[3.0]])))[0, 0])
        3.0
    """

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map; returns an array of the shape of ``u``."""
        return np.arcsinh(_array(u))

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """v -> sinh(v)."""
        return np.sinh(_array(v))

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "asinh"}


@dataclass(frozen=True)
class NormalCDF:
    """u -> Phi(u) coordinate-wise, the standard normal CDF: a unit-variance normal becomes uniform.

    In float64, Phi(u) rounds to 1 beyond u = 8.3, so the map is invertible to ~1e-10 only on
    |u| <~ 5 (Phi(u)'s rounding error over the density phi(u)); a multinormal's samples stay there.

    Example:
        >>> float(NormalCDF().forward(np.zeros((1, 1)))[0, 0])
        0.5
    """

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map, into (0, 1); returns an array of the shape of ``u``."""
        return ndtr(_array(u))

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """v -> Phi^{-1}(v)."""
        return ndtri(_array(v))

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "normal-cdf"}


@dataclass(frozen=True)
class Wiggly:
    """u -> u + a sin(w u) coordinate-wise; strictly increasing because a w < 1 (f' >= 1 - a w > 0).

    Arguments:
        amplitude: a >= 0.
        frequency: w > 0, with a w < 1.

    Example:
        >>> f = Wiggly(0.4, 2.0); u = np.array([[-1.3, 0.2, 7.0]])
        >>> bool(np.allclose(f.inverse(f.forward(u)), u, rtol=0, atol=1e-12))
        True
    """

    amplitude: float = 0.4
    frequency: float = 2.0

    def __post_init__(self) -> None:
        a, w = float(self.amplitude), float(self.frequency)
        if not (math.isfinite(a) and a >= 0):
            raise ValueError(f"amplitude must be finite and >= 0, got {self.amplitude!r}")
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"frequency must be finite and > 0, got {self.frequency!r}")
        if not a * w < 1:
            raise ValueError(
                f"amplitude * frequency must be < 1 for the wiggly map to be strictly increasing, got {a} * {w} = {a * w:g}"
            )

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map; returns an array of the shape of ``u``."""
        u = _array(u)
        return u + self.amplitude * np.sin(self.frequency * u)

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """The root u of u + a sin(w u) = v, by Newton's method kept inside a bracket.

        |u - v| <= a brackets the root; a Newton step leaving the bracket is replaced by bisection,
        so every coordinate converges (quadratically once close: f' >= 1 - a w > 0).
        """
        v = _array(v)
        a, w = self.amplitude, self.frequency
        lo, hi, u = v - a, v + a, v.copy()
        for _ in range(200):
            residual = u + a * np.sin(w * u) - v
            lo = np.where(residual < 0, u, lo)
            hi = np.where(residual > 0, u, hi)
            step = residual / (1.0 + a * w * np.cos(w * u))
            new = u - step
            outside = (residual != 0) & ~((new > lo) & (new < hi))
            new = np.where(outside, 0.5 * (lo + hi), new)
            done = np.all(np.abs(new - u) <= 4 * np.finfo(float).eps * (1.0 + np.abs(u)))
            u = new
            if done:
                break
        return u

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "wiggly", "amplitude": self.amplitude, "frequency": self.frequency}


@dataclass(frozen=True)
class Spiral:
    r"""u -> exp(v ||u||^2 A) u, benchmark-mi's spiral: a rotation by the angle v ||u||^2.

    A is the skew-symmetric generator rotating the coordinate planes (1, 2), (3, 4), ... at unit
    speed (an odd dimension's last coordinate stays). The rotation keeps ||u||, so the inverse is
    exp(-v ||x||^2 A) x. Points at different radii turn by different angles, which couples the
    coordinates: no coordinate-wise transform undoes it.

    Arguments:
        speed: v, radians per unit of ||u||^2 (default 1/3, bmi's: a unit-variance point in d
            dimensions turns by about d / 3 radians).

    Example:
        >>> u = np.array([[1.0, 0.0, 2.0]]); x = Spiral(0.5).forward(u)
        >>> bool(np.isclose(np.linalg.norm(x), np.linalg.norm(u))), bool(np.allclose(Spiral(0.5).inverse(x), u))
        (True, True)
    """

    speed: float = 1 / 3

    def __post_init__(self) -> None:
        if not (math.isfinite(float(self.speed)) and self.speed > 0):
            raise ValueError(f"speed must be finite and > 0, got {self.speed!r}")

    @staticmethod
    def _rotate(u: np.ndarray, angle: np.ndarray) -> np.ndarray:
        out = u.copy()
        m = (u.shape[1] // 2) * 2
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        first, second = u[:, 0:m:2], u[:, 1:m:2]
        out[:, 0:m:2] = c * first - s * second
        out[:, 1:m:2] = s * first + c * second
        return out

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map; returns an array of the shape of ``u`` (n, d)."""
        u = _array(u)
        return self._rotate(u, self.speed * np.sum(u * u, axis=1))

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """x -> exp(-v ||x||^2 A) x."""
        v = _array(v)
        return self._rotate(v, -self.speed * np.sum(v * v, axis=1))

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "spiral", "speed": self.speed}


def random_orthogonal(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed; Mezzadri 2007).

    Arguments:
        dim: its size.
        rng: the generator to draw from.

    Returns:
        Q, shape (dim, dim), with Q^T Q = I.

    Example:
        >>> q = random_orthogonal(4, np.random.default_rng(0)); bool(np.allclose(q.T @ q, np.eye(4)))
        True
    """
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@dataclass(frozen=True, eq=False)
class BendAndMix:
    """u -> Q2 halfcube(Q1 u): a fixed orthogonal mix, the half-cube bend, a second mix.

    Each step is invertible, so the whole is (inverse: Q1^T halfcube^{-1}(Q2^T v)); the bend
    between two mixes couples every coordinate with every other.

    Arguments:
        dim: the dimension d.
        seed: the seed of Q1 and Q2 (Haar-random, :func:`random_orthogonal`).

    Example:
        >>> f = BendAndMix(3, seed=1); u = np.array([[0.5, -2.0, 1.0]])
        >>> bool(np.allclose(f.inverse(f.forward(u)), u))
        True
    """

    dim: int
    seed: int = 0
    first: np.ndarray = field(init=False, repr=False)
    second: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_dim(self.dim, "dim")
        rng = np.random.default_rng(self.seed)
        object.__setattr__(self, "first", random_orthogonal(self.dim, rng))
        object.__setattr__(self, "second", random_orthogonal(self.dim, rng))

    def forward(self, u: np.ndarray) -> np.ndarray:
        """The map; returns an array of the shape of ``u`` (n, dim)."""
        return HalfCube().forward(_array(u) @ self.first.T) @ self.second.T

    def inverse(self, v: np.ndarray) -> np.ndarray:
        """v -> Q1^T halfcube^{-1}(Q2^T v)."""
        return HalfCube().inverse(_array(v) @ self.second) @ self.first

    def params(self) -> dict[str, Any]:
        """The map's name and parameters."""
        return {"map": "bend-and-mix", "dim": self.dim, "seed": self.seed}


@dataclass(frozen=True, eq=False)
class MappedPair:
    """(f(X), g(Y)) for a base pair (X, Y) with exact PMI: the MI is the base's (Cover & Thomas 8.6).

    Arguments:
        base: the base sampler (with ``pmi``).
        map_x: f, applied to the rows of x.
        map_y: g, applied to the rows of y.

    Example:
        >>> from synthetic.mi_tasks import multinormal
        >>> s = MappedPair(multinormal(1.0, 1, 1), HalfCube(), HalfCube())
        >>> s.mutual_information == s.base.mutual_information
        True
    """

    base: PMISampler
    map_x: InvertibleMap
    map_y: InvertibleMap

    @property
    def dim_x(self) -> int:
        """The dimension of x (the base's)."""
        return self.base.dim_x

    @property
    def dim_y(self) -> int:
        """The dimension of y (the base's)."""
        return self.base.dim_y

    @property
    def mutual_information(self) -> float:
        """I(f(X); g(Y)) = I(X; Y), nats."""
        return self.base.mutual_information

    @property
    def mutual_information_se(self) -> float:
        """The standard error of :attr:`mutual_information` (the base's: 0 for a closed form)."""
        return float(getattr(self.base, "mutual_information_se", 0.0))

    def sample(self, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The base's sample with ``seed``, mapped: returns (f(x), g(y)), shapes (n, dim_x), (n, dim_y)."""
        x, y = self.base.sample(check_sample_count(n), seed)
        return self.map_x.forward(x), self.map_y.forward(y)

    def pmi(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The exact pointwise MI, base.pmi(f^{-1}(x), g^{-1}(y)) (nats), shape (n,)."""
        return self.base.pmi(self.map_x.inverse(x), self.map_y.inverse(y))

    def params(self) -> dict[str, Any]:
        """The base's parameters and the two maps'."""
        return {"base": self.base.params(), "map_x": self.map_x.params(), "map_y": self.map_y.params()}


def base_sampler(
    mi: float,
    base: str = "multinormal",
    dim_x: int = 2,
    dim_y: int = 2,
    structure: Structure | None = None,
    within: float | None = None,
    interacting: int | None = None,
    df: float | None = None,
) -> PMISampler:
    """The base pair of a mapped sampler: the ``multinormal`` task or a ``student-t`` pair.

    Arguments:
        mi: the true MI, nats.
        base: ``"multinormal"`` or ``"student-t"``.
        dim_x, dim_y: the dimensions (equal for student-t).
        structure, within, interacting: the multinormal's (:func:`synthetic.mi_tasks.multinormal_covariance`;
            structure default dense); refused for student-t.
        df: the Student-t's degrees of freedom (default 5, as ``student-t``); refused for multinormal.

    Returns:
        The base sampler.

    Example:
        >>> round(base_sampler(1.0, "student-t", 2, 2, df=3.0).mutual_information, 12)
        1.0
    """
    if base == "multinormal":
        if df is not None:
            raise ValueError("df applies only to base 'student-t'")
        return multinormal(mi, dim_x, dim_y, structure or "dense", within, interacting)
    if base == "student-t":
        given = [n for n, v in (("structure", structure), ("within", within), ("interacting", interacting)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} applies only to base 'multinormal' (the Student-t pair is rho I across)")
        dim_x, dim_y = check_dim(dim_x, "dim_x"), check_dim(dim_y, "dim_y")
        if dim_x != dim_y:
            raise ValueError(f"base 'student-t' needs dim_x == dim_y, got {dim_x} and {dim_y}")
        return StudentTPair.from_mi(mi, df=5.0 if df is None else df, dim=dim_x)
    raise ValueError(f"base must be 'multinormal' or 'student-t', got {base!r}")


@dataclass(frozen=True)
class MappedOptions:
    """Parameters of a mapped sampler besides the true MI: the base pair's."""

    base: Base = field(default="multinormal", metadata={"help": "the pair the map is applied to: multinormal or student-t"})
    dim_x: int = field(default=2, metadata={"help": "dimension of x"})
    dim_y: int = field(default=2, metadata={"help": "dimension of y"})
    structure: Structure | None = field(default=None, metadata={"help": "multinormal base: dense (default) or sparse"})
    within: float | None = field(default=None, metadata={"help": "multinormal base: correlation inside each block"})
    interacting: int | None = field(default=None, metadata={"help": "multinormal base, sparse: correlated pairs"})
    df: float | None = field(default=None, metadata={"help": "student-t base: degrees of freedom (default 5)"})


@dataclass(frozen=True)
class WigglyOptions(MappedOptions):
    """Parameters of ``wiggly`` besides the true MI."""

    amplitude: float = field(default=0.4, metadata={"help": "a in u + a sin(w u)"})
    frequency: float = field(default=2.0, metadata={"help": "w in u + a sin(w u); a w < 1"})


@dataclass(frozen=True)
class SpiralOptions(MappedOptions):
    """Parameters of ``spiral`` besides the true MI."""

    speed: float = field(default=1 / 3, metadata={"help": "rotation angle per unit of squared norm, radians (bmi's default 1/3)"})


@dataclass(frozen=True)
class BendAndMixOptions(MappedOptions):
    """Parameters of ``bend-and-mix`` besides the true MI."""

    mix_seed: int = field(default=0, metadata={"help": "seed of the fixed orthogonal mixes"})


def _base_arguments(options: dict[str, Any]) -> dict[str, Any]:
    names = ("base", "dim_x", "dim_y", "structure", "within", "interacting", "df")
    return {k: options[k] for k in names if k in options}


@register_sampler("half-cube", options=MappedOptions, summary="half-cube u |u|^(1/2) of both sides of a base pair (bmi)")
def half_cube(mi: float, **options: Any) -> MappedPair:
    """The base pair (:func:`base_sampler`, ``options``) through :class:`HalfCube` on x and y."""
    return MappedPair(base_sampler(mi, **options), HalfCube(), HalfCube())


@register_sampler("asinh", options=MappedOptions, summary="asinh of both sides of a base pair (bmi)")
def asinh(mi: float, **options: Any) -> MappedPair:
    """The base pair (:func:`base_sampler`, ``options``) through :class:`Asinh` on x and y."""
    return MappedPair(base_sampler(mi, **options), Asinh(), Asinh())


@register_sampler("normal-cdf", options=MappedOptions, summary="normal CDF of both sides of a multinormal: uniform marginals")
def normal_cdf(mi: float, **options: Any) -> MappedPair:
    """The multinormal base (unit variances) through :class:`NormalCDF`: uniform marginals.

    A Student-t base is refused: its tails round Phi(u) to exactly 0 or 1, which no inverse undoes.
    """
    if options.get("base", "multinormal") != "multinormal":
        raise ValueError(f"base must be 'multinormal' for normal-cdf (a Student-t's tails round Phi to 0 or 1), "
                         f"got {options['base']!r}")
    return MappedPair(base_sampler(mi, **options), NormalCDF(), NormalCDF())


@register_sampler("wiggly", options=WigglyOptions, summary="u + a sin(w u) of both sides of a base pair")
def wiggly(mi: float, amplitude: float = 0.4, frequency: float = 2.0, **options: Any) -> MappedPair:
    """The base pair through :class:`Wiggly` (``amplitude``, ``frequency``) on x and y."""
    f = Wiggly(amplitude, frequency)
    return MappedPair(base_sampler(mi, **_base_arguments(options)), f, f)


@register_sampler("spiral", options=SpiralOptions, summary="bmi's spiral exp(v |u|^2 A) u of both sides of a base pair")
def spiral(mi: float, speed: float = 1 / 3, **options: Any) -> MappedPair:
    """The base pair through :class:`Spiral` (``speed``) on x and y; both dims must be >= 2."""
    dims = {k: options.get(k, 2) for k in ("dim_x", "dim_y")}
    for name, d in dims.items():
        if isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d < 2:
            raise ValueError(f"{name} must be >= 2 for spiral (it rotates coordinate planes), got {d}")
    f = Spiral(speed)
    return MappedPair(base_sampler(mi, **_base_arguments(options)), f, f)


@register_sampler("bend-and-mix", options=BendAndMixOptions, summary="orthogonal mix, half-cube, orthogonal mix of both sides")
def bend_and_mix(mi: float, mix_seed: int = 0, **options: Any) -> MappedPair:
    """The base pair through :class:`BendAndMix` on x (seed ``mix_seed``) and on y (``mix_seed + 1``)."""
    if isinstance(mix_seed, bool) or not isinstance(mix_seed, (int, np.integer)) or mix_seed < 0:
        raise ValueError(f"mix_seed must be an integer >= 0, got {mix_seed!r}")
    base = base_sampler(mi, **_base_arguments(options))
    return MappedPair(base, BendAndMix(base.dim_x, seed=int(mix_seed)), BendAndMix(base.dim_y, seed=int(mix_seed) + 1))
