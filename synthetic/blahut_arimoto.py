"""Blahut-Arimoto rate-distortion solver with certified upper and lower bounds, in nats."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft as sfft
from scipy import optimize
from scipy.special import logsumexp

__all__ = [
    "BAConvergenceWarning",
    "BAPoint",
    "ContinuousRDCertificate",
    "GridSource",
    "GridSquaredError",
    "blahut_arimoto",
    "blahut_arimoto_at_distortion",
    "certify_rd_continuous",
    "grid_source",
    "rd_bounds_continuous",
]

Array = NDArray[np.float64]
Method = Literal["auto", "dense", "fft"]

_LN2 = math.log(2.0)
_U = float(np.finfo(np.float64).eps) / 2.0  # unit roundoff
_TINY = float(np.finfo(np.float64).tiny)
# Error model for an FFT convolution (Higham 2002, Accuracy and Stability, Ch. 24): each
# length-N transform has relative 2-norm error <= log2(N) * eta with eta ~ 5u for accurate
# twiddles. We use eta = 10u, a safety factor of about two over the theorem's constant.
_FFT_ETA = 10.0 * _U
# A point x is "reliable" on the FFT path when Z(x) exceeds this multiple of its error bound.
_RELIABLE = 64.0
# Source mass the FFT certificates may "drop" from the lower bound (see _grid_terms): a full
# ladder on the discrete path (one batched FFT), a short one on the large continuous grids.
_DROP_MASSES = (1e-15, 1e-12, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
_DROP_MASSES_CONTINUOUS = (1e-15, 1e-12, 1e-9, 1e-7)
# Plain BA updates per evaluation when target-D mode polishes the slope (a continuous map of lam).
_POLISH_STEPS = 3


class BAConvergenceWarning(RuntimeWarning):
    """Blahut-Arimoto stopped at ``max_iter`` before certifying the requested gap."""


@dataclass(frozen=True, eq=False)
class BAPoint:
    """One certified point of a rate-distortion function (nats).

    Both bounds hold at ``distortion``: ``rate_lower <= R(distortion) <= rate_upper``
    (Blahut 1972; Cover & Thomas 2006, Sec. 10.8).

    Arguments:
        slope: the Lagrange multiplier lam > 0 of ``D + R / lam``; ``R'(D) = -lam`` at the optimum.
        distortion: the expected distortion of the test channel found (an upper bound on it
            on the FFT path, where the channel's distortion carries round-off error bars).
        rate_lower: Blahut's lower bound ``-lam D - sum_x p log Z(x) - max_y log c(y)``.
        rate_upper: Blahut's upper bound, the mutual information of the test channel
            (on the FFT path ``E_x KL(Q(.|x) || q)``, which is >= the mutual information).
        iterations: Blahut-Arimoto updates used.
        converged: whether ``rate_upper - rate_lower <= tol`` was certified.
        q: the output pmf of the test channel ``Q(y|x) = q(y) exp(-lam d(x, y)) / Z(x)``.
    """

    slope: float
    distortion: float
    rate_lower: float
    rate_upper: float
    iterations: int
    converged: bool
    q: Array = field(repr=False)

    @property
    def gap(self) -> float:
        """Certified width ``rate_upper - rate_lower`` in nats."""
        return self.rate_upper - self.rate_lower


@dataclass(frozen=True)
class GridSquaredError:
    """Squared-error distortion between the points of one uniform product grid.

    Source and reproduction share the grid; point ``i`` (C order over ``shape``) has
    coordinates ``i_a * spacing[a]`` up to an offset, so ``d(i, j) = sum_a spacing[a]^2 (i_a - j_a)^2``.
    The kernel ``exp(-lam d)`` is then a (separable) Toeplitz matrix and every product with it
    is a convolution, which is what the FFT path of :func:`blahut_arimoto` uses.

    Arguments:
        shape: grid points per dimension.
        spacing: grid spacing per dimension.

    Example:
        >>> d = GridSquaredError((4096,), (8.0 / 4096,))
        >>> d.size
        4096
    """

    shape: tuple[int, ...]
    spacing: tuple[float, ...]

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in np.atleast_1d(self.shape))
        spacing = tuple(float(h) for h in np.atleast_1d(self.spacing))
        if len(shape) == 0 or any(n < 1 for n in shape):
            raise ValueError(f"shape must be a non-empty tuple of positive ints, got {self.shape!r}")
        if len(spacing) != len(shape) or not all(math.isfinite(h) and h > 0 for h in spacing):
            raise ValueError(
                f"spacing must hold one finite value > 0 per dimension ({len(shape)}), got {self.spacing!r}"
            )
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)

    @property
    def size(self) -> int:
        """Number of grid points (both alphabet sizes)."""
        return int(np.prod(self.shape))

    def index_coordinates(self) -> Array:
        """Coordinates ``i_a * spacing[a]`` of every point, shape (size, dims)."""
        axes = [np.arange(n) * h for n, h in zip(self.shape, self.spacing)]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def dense(self) -> Array:
        """The full (size, size) distortion matrix (for the dense reference path)."""
        xs = self.index_coordinates()
        diff = xs[:, None, :] - xs[None, :, :]
        return np.einsum("ijk,ijk->ij", diff, diff)


# ---------------------------------------------------------------------------------------------
# input checks


def _check_pmf(p: ArrayLike, name: str, size: int | None = None) -> Array:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D pmf, got shape {arr.shape}")
    if size is not None and arr.size != size:
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be a pmf: entries finite and >= 0")
    total = float(arr.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must be a pmf summing to 1 within 1e-9, got sum {total!r}")
    return arr / total


def _check_distortion(distortion: ArrayLike | GridSquaredError, n: int) -> Array | GridSquaredError:
    if isinstance(distortion, GridSquaredError):
        if distortion.size != n:
            raise ValueError(f"distortion grid has {distortion.size} points but p has {n}")
        return distortion
    d = np.asarray(distortion, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != n or d.shape[1] < 1:
        raise ValueError(f"distortion must have shape ({n}, m) with m >= 1, got {d.shape}")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("distortion must be finite and >= 0 everywhere")
    return d


def _check_positive(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return v


def _check_slopes(slopes: float | ArrayLike) -> Array:
    lam = np.atleast_1d(np.asarray(slopes, dtype=np.float64))
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"slopes must be a float or a non-empty 1-D array, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("slopes must be finite and > 0 (lam in (0, inf))")
    return lam


def _resolve_method(method: str, distortion: Array | GridSquaredError) -> str:
    if method not in ("auto", "dense", "fft"):
        raise ValueError(f"method must be 'auto', 'dense' or 'fft', got {method!r}")
    if method == "fft" and not isinstance(distortion, GridSquaredError):
        raise ValueError("method='fft' needs distortion given as a GridSquaredError")
    if method == "auto":
        return "fft" if isinstance(distortion, GridSquaredError) else "dense"
    return method


def _log(x: Array) -> Array:
    with np.errstate(divide="ignore"):
        return np.log(x)


# ---------------------------------------------------------------------------------------------
# certificates shared by both paths


@dataclass
class _Cert:
    distortion: float
    lower: float
    upper: float

    @property
    def gap(self) -> float:
        return self.upper - self.lower


@dataclass
class _Eval:
    """One evaluation of the Blahut-Arimoto map at log q = v (rows = slopes)."""

    log_z: Array  # (L, n)
    log_c: Array  # (L, m)
    merit: Array  # (L,)  -sum_x p log Z(x), the convex objective BA decreases


# ---------------------------------------------------------------------------------------------
# dense reference path (any distortion matrix), vectorised over slopes


class _DenseOp:
    def __init__(self, p: Array, d: Array) -> None:
        self.p = p
        self.log_p = _log(p)
        self.d = d
        self.n, self.m = d.shape

    def _joint(self, lam: Array, v: Array) -> tuple[Array, Array, Array, Array]:
        a = -lam[:, None, None] * self.d[None]  # log kernel, (L, n, m)
        mtx = v[:, None, :] + a
        row_max = mtx.max(axis=2, keepdims=True)
        e = np.exp(mtx - row_max)
        s = e.sum(axis=2)
        log_z = row_max[..., 0] + np.log(s)
        return a, e, s, log_z

    def evaluate(self, lam: Array, v: Array) -> _Eval:
        a, _, _, log_z = self._joint(lam, v)
        # log c(y) = log sum_x p(x) exp(-lam d(x,y)) / Z(x)  (Blahut 1972, eq. 7)
        log_c = logsumexp((self.log_p[None, :] - log_z)[:, :, None] + a, axis=1)
        merit = -(self.p[None, :] * log_z).sum(axis=1)
        return _Eval(log_z, log_c, merit)

    def certify(self, lam: Array, v: Array) -> list[_Cert]:
        a, e, s, log_z = self._joint(lam, v)
        d_x = (e * self.d[None]).sum(axis=2) / s  # E[d | x] under Q
        b = (self.log_p[None, :] - log_z)[:, :, None] + a  # log of the terms of c(y)
        log_c = logsumexp(b, axis=1)
        dist = (self.p[None, :] * d_x).sum(axis=1)
        base = -lam * dist - (self.p[None, :] * log_z).sum(axis=1)
        r = np.exp(v + log_c)  # output marginal of Q
        upper = base - (r * log_c).sum(axis=1)  # I(Q) = -lam D - E log Z - sum_y r log c
        out = []
        for i in range(lam.size):
            lower = -lam[i] * dist[i] + self._best_dual(a[i], b[i], log_z[i])
            out.append(_Cert(float(dist[i]), float(lower), float(max(upper[i], lower))))
        return out

    def _best_dual(self, a: Array, b: Array, log_z: Array) -> float:
        """Best of Blahut's lower bounds ``-sum p log Zt - max_y log ct`` over a family of Zt.

        The bound holds for *any* positive Zt, not just the iterate's Z: with
        mu(x) = 1/(Zt(x) max ct), Jensen gives I(X;Y) + lam E d >= E log mu for every channel
        (the dual of R(D); Berger 1971, Ch. 2). Points x of tiny p(x) near a moving edge of the support of q converge
        slowly and can dominate max_y c(y) while carrying no rate, so we also try, for every k,
        Zt = Z except on the k smallest-p points, where Zt(x) = max_y e^{-lam d(x,y)} (>= Z(x),
        which makes their share of ct at most p(x)); k = 0 is Blahut's bound itself.
        """
        order = np.argsort(self.p, kind="stable")
        ap, bp, lzp, pp = a[order], b[order], log_z[order], self.p[order]
        log_zt = ap.max(axis=1)  # log max_y K(x, y) >= log Z(x) since sum q = 1
        bt = bp + lzp[:, None] - log_zt[:, None]
        n = pp.size
        # k dropped: log ct_k = logsumexp(b_j, j >= k ; bt_j, j < k). Running log-sum-exps keep
        # every term however small: a shared shift would flush the kept terms to zero whenever
        # the dropped ones dominate, and so overstate the bound.
        log_suffix = np.full((n + 1, bp.shape[1]), -np.inf)
        log_suffix[:n] = np.logaddexp.accumulate(bp[::-1], axis=0)[::-1]
        log_prefix = np.full((n + 1, bt.shape[1]), -np.inf)
        log_prefix[1:] = np.logaddexp.accumulate(bt, axis=0)
        log_cmax = np.logaddexp(log_suffix, log_prefix).max(axis=1)
        pen = np.zeros(n + 1)
        pen[1:] = np.cumsum(np.where(pp > 0, pp * (log_zt - lzp), 0.0))
        dual = -float((self.p * log_z).sum()) - pen - log_cmax
        return float(dual.max())


# ---------------------------------------------------------------------------------------------
# FFT path for squared error on a uniform grid


def _fft_err(a1: float, a2: float, b1: float, b2: float, size: int) -> float:
    """Max-norm error bound of an FFT convolution of a and b (1- and 2-norms given).

    Three transforms of length N, each with 2-norm relative error log2(N) * eta, and one
    pointwise product give ``|err|_inf <= |err|_2 <= (log2 N + 1) eta (2 |a|_2 |b|_1 + |a|_1 |b|_2)``,
    using |FFT a|_2 = sqrt(N) |a|_2 and |FFT b|_inf <= |b|_1; the roles of a and b can swap.
    """
    lg = math.log2(max(size, 2)) + 1.0
    return lg * _FFT_ETA * min(2 * a2 * b1 + a1 * b2, 2 * b2 * a1 + b1 * a2)


class _Kernel:
    """exp(-lam |u|^2) and |u|^2 exp(-lam |u|^2) on the lags of a grid, as real FFTs."""

    def __init__(self, lam: float, spacing: Sequence[float], fshape: tuple[int, ...]) -> None:
        k = len(fshape)
        sq = np.zeros(fshape)
        for ax, (nn, h) in enumerate(zip(fshape, spacing)):
            idx = np.arange(nn)
            lag = np.where(idx <= nn // 2, idx, idx - nn)  # circular lags 0, 1, ..., -1
            shape = [1] * k
            shape[ax] = nn
            sq = sq + ((lag * h) ** 2).reshape(shape)
        ker = np.exp(-lam * sq)
        kd = ker * sq
        self.fshape = fshape
        self.axes = tuple(range(-k, 0))
        # the kernels are even in every lag, so their transforms are real: keep the real part
        self.f_ker = sfft.rfftn(ker, s=fshape, axes=self.axes).real.copy()
        self.f_kd = sfft.rfftn(kd, s=fshape, axes=self.axes).real.copy()
        self.n_ker = (float(ker.sum()), float(math.sqrt((ker * ker).sum())))
        self.n_kd = (float(kd.sum()), float(math.sqrt((kd * kd).sum())))
        self.size = int(np.prod(fshape))

    def conv(self, a: Array, which: str, out_shape: tuple[int, ...]) -> Array:
        """Linear convolution of a (leading batch axes allowed) with the kernel, cropped."""
        fk = self.f_ker if which == "k" else self.f_kd
        fa = sfft.rfftn(a, s=self.fshape, axes=self.axes)
        res = sfft.irfftn(fa * fk, s=self.fshape, axes=self.axes)
        sl = (Ellipsis,) + tuple(slice(0, n) for n in out_shape)
        return res[sl]

    def err(self, a: Array, which: str) -> float:
        """Bound on the max-norm round-off of :meth:`conv` applied to a."""
        b1, b2 = self.n_ker if which == "k" else self.n_kd
        a1 = float(np.abs(a).sum())
        a2 = float(math.sqrt((a * a).sum()))
        # + tiny * |a|_1 covers kernel entries that underflowed to zero
        return _fft_err(a1, a2, b1, b2, self.size) + a1 * 1e3 * _TINY


class _GridOp:
    """Blahut-Arimoto map for squared error on a uniform grid, one slope at a time.

    Products with exp(-lam d) are FFT convolutions. FFT round-off is absolute (relative to the
    largest output), so Z(x) is relatively accurate only where it is not tiny; the certificate
    therefore carries explicit error bars (see :meth:`certify`).
    """

    def __init__(self, p: Array, grid: GridSquaredError) -> None:
        self.grid = grid
        self.shape = grid.shape
        self.p = p.reshape(self.shape)
        self.pos = self.p > 0
        self.fshape = tuple(sfft.next_fast_len(2 * n - 1, real=True) for n in self.shape)
        self._kernels: dict[float, _Kernel] = {}

    def kernel(self, lam: float) -> _Kernel:
        ker = self._kernels.get(lam)
        if ker is None:
            ker = _Kernel(lam, self.grid.spacing, self.fshape)
            self._kernels = {lam: ker}  # keep only the current slope
        return ker

    def evaluate(self, lam: Array, v: Array) -> _Eval:
        log_z = np.empty_like(v)
        log_c = np.empty_like(v)
        merit = np.empty(lam.size)
        for i, la in enumerate(lam):
            ker = self.kernel(float(la))
            vmax = float(v[i].max())
            qs = np.exp(v[i] - vmax).reshape(self.shape)  # q / max q: no overflow, max 1
            zs = ker.conv(qs, "k", self.shape)
            # where Z is below its own round-off bound it is clamped there: such x carry
            # negligible p (Z >= p near the fixed point), and the certificate handles them
            zc = np.maximum(zs, ker.err(qs, "k"))
            ws = np.where(self.pos, self.p / zc, 0.0)
            cs = ker.conv(ws, "k", self.shape)
            cc = np.maximum(cs, ker.err(ws, "k"))
            log_z[i] = (np.log(zc) + vmax).ravel()
            log_c[i] = (np.log(cc) - vmax).ravel()
            merit[i] = -float((self.p * (np.log(zc) + vmax)).sum())
        return _Eval(log_z, log_c, merit)

    def certify(self, lam: Array, v: Array) -> list[_Cert]:
        out = []
        for i, la in enumerate(lam):
            ker = self.kernel(float(la))
            vi = v[i].reshape(self.shape)
            vmax = float(vi.max())
            qs = np.exp(vi - vmax)
            zs = ker.conv(qs, "k", self.shape)
            ns = ker.conv(qs, "d", self.shape)
            dz = ker.err(qs, "k")
            dn = ker.err(qs, "d")
            terms = _grid_terms(float(la), self.p, vi, vmax, zs, ns, dz, dn, None)
            out.append(_certify_grid(float(la), terms, ker, self.shape))
        return out


@dataclass
class _GridTerms:
    """Round-off-safe pieces of Blahut's bounds on a grid (see :func:`_grid_terms`)."""

    dist: float  # distortion of the (mixed) test channel, error bar included
    upper: float  # E_x KL(Q(.|x) || q) of that channel, error bar included
    neg_log_z: float  # -sum_x p(x) log Zt(x) with Zt = Z_fft on reliable x, 1 elsewhere
    w: Array  # candidate p / Zt in units of 1/q_max, shape (k, *grid)
    pens: Array  # extra -sum p log Zt of each candidate (dropping points costs rate)
    vmax: float


def _grid_terms(
    lam: float,
    p: Array,
    v_at_x: Array,
    vmax: float,
    zs: Array,
    ns: Array,
    dz: float,
    dn: float,
    fallback_d: Array | None,
    drop_masses: Sequence[float] = _DROP_MASSES,
) -> _GridTerms:
    """Blahut's bounds from FFT convolutions, with every round-off error bounded.

    ``zs, ns`` approximate ``Z(x)/q_max`` and ``sum_y q(y) d(x,y) e^{-lam d(x,y)} / q_max`` with
    max-norm errors ``dz, dn`` (q_max = exp(vmax)). Points with ``zs > 64 dz`` ("reliable",
    relative error < 1/64) keep Blahut's Gibbs channel; the others get the channel
    ``Y = y(x)``, the grid point nearest x (``v_at_x`` = its log q, ``fallback_d`` its distortion,
    0 when x is itself on the grid). Any channel gives an upper bound, here
    ``E_x KL(Q(.|x) || q) >= I(X;Y) >= R(D)``; distortion and rate are returned with their
    round-off error bars added, so the reported distortion is >= the channel's and, R being
    non-increasing, the upper bound holds there.

    Blahut's lower bound ``R(D) >= -lam D - sum_x p log Zt(x) - log max_y ct(y)`` with
    ``ct(y) = sum_x p(x) e^{-lam d(x,y)} / Zt(x)`` holds for *any* positive Zt (mu = 1/(Zt max ct)
    is dual feasible; see _DenseOp._best_dual), so Zt is ours to choose and
    only ct needs error bars (added by the caller). We take Zt = Z_fft on reliable x and
    Zt = 1 (>= Z, as sum q = 1) elsewhere, and offer candidates that also set Zt = 1 on the
    smallest-p points holding mass <= each of ``drop_masses``: slowly converging far tails or
    small-p cells then stop dominating max ct, at a cost of ``sum p log(1/Z)`` over them.
    """
    pos = p > 0
    rel = pos & (zs > _RELIABLE * dz)
    unrel = pos & ~rel
    zr = zs[rel]
    pr = p[rel]
    d_x = ns[rel] / zr
    err_d_x = (dn + d_x * dz) / (zr - dz)
    err_log_z = -np.log1p(-dz / zr)
    log_z = np.log(zr) + vmax
    d0 = 0.0 if fallback_d is None else float((p[unrel] * fallback_d[unrel]).sum())
    dist = float((pr * d_x).sum()) + d0 + float((pr * err_d_x).sum())
    upper = float((pr * (-lam * d_x - log_z)).sum()) + float((p[unrel] * -v_at_x[unrel]).sum())
    upper += float((pr * (lam * err_d_x + err_log_z)).sum())

    escale = math.exp(vmax)
    ws = np.zeros_like(p)
    ws[rel] = pr / zr
    ws[unrel] = p[unrel] * escale
    flat_p = p.ravel()
    order = np.argsort(flat_p, kind="stable")
    cum = np.cumsum(flat_p[order])
    log_z_full = np.zeros_like(p)
    log_z_full[rel] = log_z
    stack = [ws]
    pens = [0.0]
    for mass in drop_masses:
        k = int(np.searchsorted(cum, mass, side="right"))
        drop = np.zeros(p.size, dtype=bool)
        drop[order[:k]] = True
        drop = drop.reshape(p.shape) & rel
        if not drop.any():
            continue
        wk = ws.copy()
        wk[drop] = p[drop] * escale
        stack.append(wk)
        pens.append(float((p[drop] * -log_z_full[drop]).sum()))
    return _GridTerms(dist, upper, -float((pr * log_z).sum()), np.stack(stack), np.array(pens), vmax)


def _certify_grid(lam: float, terms: _GridTerms, ker: _Kernel, shape: tuple[int, ...]) -> _Cert:
    """Discrete-grid certificate: the lower bound's max over y runs over the grid points."""
    cs = ker.conv(terms.w, "k", shape)
    lower = -math.inf
    for k in range(terms.w.shape[0]):
        log_cmax = math.log(float(cs[k].max()) + ker.err(terms.w[k], "k")) - terms.vmax
        lower = max(lower, -lam * terms.dist + terms.neg_log_z - terms.pens[k] - log_cmax)
    return _Cert(terms.dist, lower, max(terms.upper, lower))


# ---------------------------------------------------------------------------------------------
# the accelerated iteration


def _normalize(v: Array) -> Array:
    return v - logsumexp(v, axis=1, keepdims=True)


def _solve(
    op: _DenseOp | _GridOp,
    lam: Array,
    v0: Array,
    tol: float,
    max_iter: int,
) -> tuple[Array, list[_Cert], Array, Array]:
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
    v = _normalize(np.maximum(v0, v0.max(axis=1, keepdims=True) + floor))  # finite: no nan steps
    iters = np.zeros(n_rows, dtype=np.int64)
    done = np.zeros(n_rows, dtype=bool)
    certs: list[_Cert | None] = [None] * n_rows
    step_max = np.ones(n_rows)
    every = 12
    last_cert = np.full(n_rows, -every, dtype=np.int64)  # the start is certified fully first

    def bmap(rows: Array, vv: Array) -> tuple[Array, _Eval]:
        ev = op.evaluate(lam[rows], vv)
        iters[rows] += 1
        return _normalize(vv + ev.log_c), ev

    def check(rows: Array, vv: Array, ev: _Eval) -> Array:
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
            rows, x0, x1, ev0 = rows[keep], x0[keep], x1[keep], _take(ev0, keep)
            if rows.size == 0:
                continue
        x2, ev1 = bmap(rows, x1)
        fin = check(rows, x1, ev1)
        if fin.any():
            v[rows[fin]] = x1[fin]
            done[rows[fin]] = True
            keep = ~fin
            rows, x0, x1, x2, ev0, ev1 = rows[keep], x0[keep], x1[keep], x2[keep], _take(ev0, keep), _take(ev1, keep)
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
        xe = _normalize(xe)
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

    out_certs: list[_Cert] = []
    for i in range(n_rows):
        if certs[i] is None:
            certs[i] = op.certify(lam[i : i + 1], v[i : i + 1])[0]
            done[i] = certs[i].gap <= tol  # type: ignore[union-attr]
        out_certs.append(certs[i])  # type: ignore[arg-type]
    return v, out_certs, iters, done


def _take(ev: _Eval, mask: Array) -> _Eval:
    return _Eval(ev.log_z[mask], ev.log_c[mask], ev.merit[mask])


# ---------------------------------------------------------------------------------------------
# public solver

_DENSE_CHUNK = 4_000_000  # elements of one (slopes, n, m) block on the dense path


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
    pv = _check_pmf(p, "p")
    dist = _check_distortion(distortion, pv.size)
    lam = _check_slopes(slopes)
    tol = _check_positive(tol_bits, "tol_bits") * _LN2
    max_iter = _check_max_iter(max_iter)
    problem = _Problem(pv, dist, method, q0)
    results: list[BAPoint | None] = [None] * lam.size
    if problem.how == "dense":
        chunk = max(1, _DENSE_CHUNK // max(1, problem.n * problem.m))
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
    _warn_unconverged(points, max_iter, tol_bits)
    return points


def _check_max_iter(max_iter: int) -> int:
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}")
    return int(max_iter)


def _warn_unconverged(points: Sequence[BAPoint], max_iter: int, tol_bits: float, stacklevel: int = 3) -> None:
    bad = [pt for pt in points if not pt.converged]
    if bad:
        worst = max(pt.gap for pt in bad) / _LN2
        warnings.warn(
            f"Blahut-Arimoto hit max_iter={max_iter} at {len(bad)} slope(s) before certifying "
            f"tol_bits={tol_bits}; worst certified gap {worst:.3g} bits (bounds still valid)",
            BAConvergenceWarning,
            stacklevel=stacklevel,
        )


class _Problem:
    """A validated source/distortion pair with its operator, initial log q and D range."""

    def __init__(self, p: Array, dist: Array | GridSquaredError, method: str, q0: ArrayLike | None) -> None:
        self.p = p
        self.dist = dist
        self.how = _resolve_method(method, dist)
        self.n = p.size
        self.m = dist.size if isinstance(dist, GridSquaredError) else dist.shape[1]
        if q0 is not None:
            self.v_init = _log(_check_pmf(q0, "q0", size=self.m))
        elif self.how == "fft":
            # q = p is the high-rate optimum on a shared grid; 1e-3 of uniform mass keeps cells
            # with p = 0 alive (an output at log q = -708 with c(y) ~ 1 would take ~1e5 updates)
            self.v_init = np.log((1 - 1e-3) * p + 1e-3 / p.size)
        else:
            self.v_init = np.full(self.m, -math.log(self.m))
        self.op: _DenseOp | _GridOp
        if self.how == "dense":
            self.op = _DenseOp(p, dist.dense() if isinstance(dist, GridSquaredError) else dist)
        else:
            assert isinstance(dist, GridSquaredError)
            self.op = _GridOp(p, dist)

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
            v = _normalize(v + self.op.evaluate(lam_a, v).log_c)
        cert = self.op.certify(lam_a, v)[0]
        return _point(lam, cert, v[0], steps, True), v[0]

    def solve(self, lam: Array, v0: Array, tol: float, max_iter: int) -> list[tuple[BAPoint, Array]]:
        v, certs, iters, conv = _solve(self.op, lam, np.tile(v0, (lam.size, 1)), tol, max_iter)
        return [(_point(lam[k], certs[k], v[k], iters[k], conv[k]), v[k]) for k in range(lam.size)]


def _point(lam: float, cert: _Cert, v: Array, iters: int, conv: bool) -> BAPoint:
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


# ---------------------------------------------------------------------------------------------
# target-distortion mode


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
    pv = _check_pmf(p, "p")
    dist = _check_distortion(distortion, pv.size)
    tol = _check_positive(tol_bits, "tol_bits") * _LN2
    max_iter = _check_max_iter(max_iter)
    rtol_D = _check_positive(rtol_D, "rtol_D")
    problem = _Problem(pv, dist, method, q0)
    point, _ = _at_distortion(problem, target_D, tol, max_iter, rtol_D)
    _warn_unconverged([point], max_iter, tol_bits)
    return point


def _at_distortion(
    problem: _Problem,
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

    if solved is None:
        solved = {}
    total_iters = 0

    def solve(t: float) -> BAPoint:
        """Certified point at lam = e^t, warm started from the solves done so far."""
        nonlocal total_iters
        if t in solved:
            return solved[t][0]
        if solved:
            # warm start from the nearest larger slope if any (q's support shrinks as lam falls)
            above = [u for u in solved if u > t]
            near = min(above or solved, key=lambda u: abs(u - t))
            v0 = problem.warm_start(solved[near][1], t - near)
        else:
            v0 = problem.v_init
        pt, v = problem.solve(np.array([math.exp(t)]), v0, tol, max_iter)[0]
        total_iters += pt.iterations
        solved[t] = (pt, v)
        return pt

    def search(t: float) -> float:
        return solve(t).distortion

    def ends() -> tuple[float, float] | None:
        above = [u for u in solved if solved[u][0].distortion > target]
        below = [u for u in solved if solved[u][0].distortion < target]
        if above and below and max(above) < min(below):
            return max(above), min(below)
        return None

    # phase 1: bracket log lam (lam ~ 1/(target - D_min) sets the scale, unless earlier solves
    # already bracket it), then Brent on certified solves. Their D is only as reproducible as
    # the gap allows (~1e-3 relative at low rate, where the Lagrangian is flat; ~1e-6 where BA
    # converges sublinearly), so this phase only gets close: to 1e-7 in log lam.
    bracket = ends()
    if bracket is None:
        t = min(solved, key=lambda u: abs(solved[u][0].distortion - target)) if solved else -math.log(target - d_min)
        step = math.log(4.0)
        direction = 1.0 if search(t) > target else -1.0
        for _ in range(200):
            t_far = t + direction * step
            if (search(t_far) - target) * direction <= 0:
                break
            t, step = t_far, step * 1.5
        else:
            raise ValueError(f"could not bracket the slope for target_D={target!r} in ({d_min!r}, {d_max!r})")
        bracket = (min(t, t_far), max(t, t_far))
    history: list[tuple[float, float]] = []  # (bracket width in log lam, D gap across it)

    def f(u: float) -> float:
        d = search(u)
        if abs(d - target) <= rtol_D * target:
            raise _Done
        # D(lam) jumping over target_D (a straight segment of R): the bracket in log lam has
        # shrunk 100-fold but the D gap across it has not even halved
        e = ends()
        if e is not None:
            width, d_gap = e[1] - e[0], solved[e[0]][0].distortion - solved[e[1]][0].distortion
            if any(w >= 1e2 * width and g < 2.0 * d_gap for w, g in history):
                raise _Jump
            history.append((width, d_gap))
        return d - target

    jump = False
    try:
        optimize.brentq(f, bracket[0], bracket[1], xtol=1e-7, rtol=1e-7, maxiter=100)
    except _Jump:
        jump = True
    except (_Done, RuntimeError, ValueError):
        pass  # noisy D can break Brent's invariants; the solves so far are kept either way

    if not jump:
        t_best = min(solved, key=lambda u: abs(solved[u][0].distortion - target))
        best = solve(t_best)
        if abs(best.distortion - target) <= rtol_D * target or best.gap > tol:
            return _relabel(best, total_iters), solved[t_best][1]
        # phase 2: from one fixed start, a fixed number of plain BA updates is a continuous
        # map of lam, so Brent can hit target_D to round-off; the point is then re-certified
        v_start = solved[t_best][1]
        polished: dict[float, tuple[BAPoint, Array]] = {}

        def polish(u: float) -> float:
            nonlocal total_iters
            if u not in polished:
                polished[u] = problem.polish(math.exp(u), v_start, _POLISH_STEPS)
                total_iters += _POLISH_STEPS
            return polished[u][0].distortion - target

        f0 = polish(t_best)
        width = 1e-6 * max(1.0, abs(t_best))
        lo = hi = t_best
        for _ in range(40):
            lo, hi = lo - width, hi + width
            if polish(lo) * f0 < 0 or polish(hi) * f0 < 0 or width > 1.0:
                break
            width *= 2.0
        other = lo if polish(lo) * f0 < 0 else (hi if polish(hi) * f0 < 0 else None)
        if other is not None:
            optimize.brentq(polish, min(t_best, other), max(t_best, other), xtol=1e-15, rtol=4 * np.finfo(float).eps)
            hits = [
                e for e in polished.values() if e[0].gap <= tol and abs(e[0].distortion - target) <= rtol_D * target
            ]
            if hits:
                pt, v = min(hits, key=lambda e: e[0].gap)
                return _relabel(pt, total_iters), v

    # phase 3: a straight segment of R(D) (D(lam) jumps over target_D), or D noise we cannot
    # resolve: time-share certified points on either side, narrowing the bracket by bisection
    # until the chord certifies (it costs about (lam_b - lam_a)(D_a - D_b) / 4 over the gaps)
    shared = None
    for _ in range(60):
        e = ends()
        if e is None:
            break
        pa, pb = solve(e[0]), solve(e[1])
        shared = _time_share(pa, pb, target, total_iters, tol)
        if shared.converged or e[1] - e[0] < 1e-12 * max(1.0, abs(e[0])):
            break
        mid = 0.5 * (e[0] + e[1])
        pm = solve(mid)
        if abs(pm.distortion - target) <= rtol_D * target:
            return _relabel(pm, total_iters), solved[mid][1]
    if shared is None:
        t_best = min(solved, key=lambda u: abs(solved[u][0].distortion - target))
        best = solve(t_best)
        return _relabel(best, total_iters), solved[t_best][1]
    shared = _relabel(shared, total_iters)
    return shared, np.log(np.maximum(shared.q, _TINY))


class _Jump(Exception):
    """D(lam) jumps over the target: R(D) is straight there."""


class _Done(Exception):
    """A certified solve already hit the target distortion."""


def _relabel(pt: BAPoint, iterations: int) -> BAPoint:
    return BAPoint(pt.slope, pt.distortion, pt.rate_lower, pt.rate_upper, iterations, pt.converged, pt.q)


def _time_share(pa: BAPoint, pb: BAPoint, target: float, iterations: int, tol: float) -> BAPoint:
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


# ---------------------------------------------------------------------------------------------
# continuous sources under squared error

LogDensity = Callable[[Array], ArrayLike]


@dataclass(frozen=True, eq=False)
class GridSource:
    """A density discretised on the cells of a uniform grid over a box (C order over cells).

    Arguments:
        lo, hi: the box, per dimension.
        shape: cells per dimension.
        masses: cell masses, normalised to a pmf, shape (prod(shape),).
        box_mass: the quadrature estimate of the mass inside the box before normalising.
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    shape: tuple[int, ...]
    masses: Array = field(repr=False)
    box_mass: float

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell width per dimension."""
        return tuple((b - a) / n for a, b, n in zip(self.lo, self.hi, self.shape))

    @property
    def axes(self) -> tuple[Array, ...]:
        """Cell centres per dimension."""
        return tuple(a + (np.arange(n) + 0.5) * h for a, n, h in zip(self.lo, self.shape, self.spacing))

    @property
    def points(self) -> Array:
        """Cell centres, shape (prod(shape), dims)."""
        return _mesh(self.axes)

    @property
    def distortion(self) -> GridSquaredError:
        """Squared error between cell centres (the FFT path's structured distortion)."""
        return GridSquaredError(self.shape, self.spacing)


def _mesh(axes: Sequence[Array]) -> Array:
    grids = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def _box(
    lo: float | Sequence[float], hi: float | Sequence[float], n: int | Sequence[int] | None
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[int, ...]]:
    lo_t = tuple(float(x) for x in np.atleast_1d(np.asarray(lo, dtype=np.float64)))
    hi_t = tuple(float(x) for x in np.atleast_1d(np.asarray(hi, dtype=np.float64)))
    if len(lo_t) != len(hi_t) or len(lo_t) == 0:
        raise ValueError(f"lo and hi must have one entry per dimension, got {len(lo_t)} and {len(hi_t)}")
    if not all(math.isfinite(a) and math.isfinite(b) and a < b for a, b in zip(lo_t, hi_t)):
        raise ValueError(f"lo, hi must be finite with lo < hi in every dimension, got lo={lo_t}, hi={hi_t}")
    dims = len(lo_t)
    if n is None:
        n = {1: 2048, 2: 128}.get(dims, 24)
    n_t = tuple(int(x) for x in np.atleast_1d(np.asarray(n)))
    if len(n_t) == 1 and dims > 1:
        n_t = n_t * dims
    if len(n_t) != dims or any(x < 2 for x in n_t):
        raise ValueError(f"n must be an int >= 2 or one such int per dimension ({dims}), got {n!r}")
    return lo_t, hi_t, n_t


def _log_density_on(log_density: LogDensity, pts: Array) -> Array:
    out = np.asarray(log_density(pts), dtype=np.float64).reshape(-1)
    if out.shape != (pts.shape[0],):
        raise ValueError(f"log_density must map an array of shape (k, d) to shape (k,), got {out.shape}")
    if np.any(np.isnan(out)) or np.any(out == np.inf):
        raise ValueError("log_density returned nan or +inf")
    return out


def grid_source(
    log_density: LogDensity,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    *,
    rule: Literal["midpoint", "gauss"] = "midpoint",
    nodes: int = 3,
) -> GridSource:
    """Discretise a density on the cells of a uniform grid over the box [lo, hi].

    ``rule="midpoint"`` takes mass ``p(centre) * cell volume``; ``rule="gauss"`` integrates each
    cell with a ``nodes``-point Gauss-Legendre product rule (close to the exact cell masses).
    The masses are normalised to a pmf; ``box_mass`` keeps the un-normalised total.

    Arguments:
        log_density: vectorised log p, array (k, d) -> (k,); p should integrate to 1.
        lo, hi: the box (a float in 1-D or one value per dimension).
        n: cells per dimension (int or one per dimension); default 2048 (1-D), 128 (2-D).
        rule: "midpoint" or "gauss".
        nodes: Gauss-Legendre nodes per dimension and cell for ``rule="gauss"``.

    Returns:
        A :class:`GridSource`; feed ``.masses`` and ``.distortion`` to :func:`blahut_arimoto`.

    Example:
        >>> src = grid_source(lambda x: -0.5 * (x**2).sum(1) - 0.5 * np.log(2 * np.pi), -8, 8, 256)
        >>> bool(abs(src.box_mass - 1) < 1e-12)
        True
    """
    lo_t, hi_t, n_t = _box(lo, hi, n)
    src_axes = tuple(a + (np.arange(k) + 0.5) * (b - a) / k for a, b, k in zip(lo_t, hi_t, n_t))
    vol = float(np.prod([(b - a) / k for a, b, k in zip(lo_t, hi_t, n_t)]))
    if rule == "midpoint":
        logm = _log_density_on(log_density, _mesh(src_axes)) + math.log(vol)
    elif rule == "gauss":
        if int(nodes) != nodes or nodes < 1:
            raise ValueError(f"nodes must be an int >= 1, got {nodes!r}")
        t, wt = np.polynomial.legendre.leggauss(int(nodes))
        acc = np.full(int(np.prod(n_t)), -np.inf)
        offs = np.meshgrid(*[np.arange(int(nodes))] * len(n_t), indexing="ij")
        for combo in zip(*[o.ravel() for o in offs]):
            shifted = [ax + 0.5 * t[c] * (b - a) / k for ax, c, a, b, k in zip(src_axes, combo, lo_t, hi_t, n_t)]
            logw = sum(math.log(0.5 * wt[c]) for c in combo)
            acc = np.logaddexp(acc, _log_density_on(log_density, _mesh(shifted)) + logw)
        logm = acc + math.log(vol)
    else:
        raise ValueError(f"rule must be 'midpoint' or 'gauss', got {rule!r}")
    log_total = float(logsumexp(logm))
    if not math.isfinite(log_total):
        raise ValueError("log_density is -inf on every grid cell of the box")
    masses = np.exp(logm - log_total)
    masses.setflags(write=False)
    return GridSource(lo_t, hi_t, n_t, masses, math.exp(log_total))


@dataclass(frozen=True)
class ContinuousRDCertificate:
    """Bounds on R(D) of a continuous source under squared error, with their error budget.

    ``lower <= R(D) <= upper`` (nats) up to the estimated quadrature error, which is already
    included (see :func:`certify_rd_continuous`).

    Arguments:
        lower: Blahut's lower bound at D, not clamped at 0: it is a dual line, so
            ``lower + slope * (D - D2) <= R(D2)`` for every D2 as well.
        upper: upper bound; it holds at ``channel_distortion`` (<= D), hence at D.
        D: the distortion asked for.
        slope: lam of the discrete BA solution used as the test channel.
        channel_distortion: the test channel's distortion for the continuous source, error
            bars included.
        discrete: the discrete BA point behind the channel.
        errors: what was added: quadrature (two-resolution differences) for the distortion and
            both bounds, the source mass beyond the widened box, the discrete gap.
    """

    lower: float
    upper: float
    D: float
    slope: float
    channel_distortion: float
    discrete: BAPoint
    errors: dict[str, float]


def rd_bounds_continuous(
    log_density: LogDensity,
    D: float,
    *,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    tol_bits: float = 1e-4,
    refine: tuple[int, int] = (3, 5),
    rule: Literal["midpoint", "gauss"] = "midpoint",
    align_mean: bool = True,
) -> tuple[float, float]:
    """(lower, upper) bounds in nats on R(D) of a continuous source under squared error.

    See :func:`certify_rd_continuous` (same arguments) for the method and the error control.

    Example:
        >>> lp = lambda x: -0.5 * (x**2).sum(1) - 0.5 * np.log(2 * np.pi)
        >>> lower, upper = rd_bounds_continuous(lp, 0.25, lo=-8, hi=8, n=1024)
        >>> bool(lower <= 0.5 * np.log(1 / 0.25) <= upper)
        True
    """
    cert = certify_rd_continuous(
        log_density, D, lo=lo, hi=hi, n=n, tol_bits=tol_bits, refine=refine, rule=rule, align_mean=align_mean
    )
    return max(0.0, cert.lower), cert.upper


def certify_rd_continuous(
    log_density: LogDensity,
    D: float,
    *,
    lo: float | Sequence[float],
    hi: float | Sequence[float],
    n: int | Sequence[int] | None = None,
    tol_bits: float = 1e-4,
    refine: tuple[int, int] = (3, 5),
    rule: Literal["midpoint", "gauss"] = "midpoint",
    align_mean: bool = True,
) -> ContinuousRDCertificate:
    """Bounds on R(D) of a continuous source (density on R^d, d = 1, 2, ...) under squared error.

    BA on a histogram only gives R(D) of the discretised source, so the discrete solution is
    used as a *test channel for the continuous X* and both of Blahut's bounds are re-evaluated
    for continuous x (Blahut 1972; both hold for any alphabets, Berger 1971, Ch. 2):

    1. The source is discretised on ``n`` cells per dimension over the box (``grid_source``)
       and BA is run in target-D mode, giving a slope lam and output pmf q on the cell centres
       y_j. The test channel for any real x is ``Q(j|x) = q_j e^{-lam |x - y_j|^2} / Z(x)``.
    2. Upper bound: ``R(D_Q) <= I(X;Y) <= E_X KL(Q(.|X) || q)`` evaluated by the midpoint rule on
       a grid ``refine[i]`` times finer than the BA grid over the box widened by a quarter of
       its width on every side, with FFT round-off bounded as on the discrete FFT path (points
       where Z is below its round-off bound use ``Y = nearest y_j`` instead). The discrete target
       is lowered until the channel's distortion, error bars included, is <= D, so
       ``R(D) <= R(D_Q) <= upper``.
    3. Lower bound: ``R(D) >= -lam D - E_X log Zt(X) - log sup_y ct(y)`` for any positive Zt,
       where ``ct(y) = E_X e^{-lam |X - y|^2} / Zt(X)`` and the sup is over *all* y in R^d. We
       take Zt = Z on the widened box and Zt = 1 (>= Z) beyond it, so the mass eps beyond adds
       at most eps to ct and nothing to E log Zt. For y outside the widened box ct(y) <= ct of
       its projection (the box is convex), so the sup is over the box: ct is evaluated on the
       fine grid by FFT (error bar added) and re-evaluated directly on a 5^d sub-grid around
       the largest grid values.
    4. Error control: the distortion and both bounds are computed at both refinements; the
       difference (an estimate of the coarser one's error, hence conservative for the finer
       one whose value is used) is added to the distortion and the upper bound and subtracted
       from the lower bound (``errors`` lists each term). For smooth densities the midpoint
       rule converges spectrally here (the integrands are smooth on the kernel width
       ``1/sqrt(2 lam)``, which the grids resolve when ``lam h^2 < ~1``), so these terms are
       1e-10 to 1e-7 nats and the width is set by ``tol_bits``; a kink (Laplace) gives ~1e-6.
       The mass beyond the widened box, ``eps = max(0, 1 - fine quadrature mass)``, enters the
       upper bound as ``eps * max_j log(1/q_j)`` in rate and ``eps * diag^2`` in distortion
       (diag = the widened box's diagonal; this assumes that far tail lies within a diagonal
       of the box, which no finite set of density values can verify) and the lower bound as
       in 3. For D at or above the best constant reproduction's distortion (estimated the same
       way) R(D) = 0 and (0, 0) is returned.

    Midpoint cell masses (``rule="midpoint"``) make the discrete problem a spectrally accurate
    quadrature of the continuous one, so the discrete optimum is near-optimal for continuous x;
    exact cell masses (``rule="gauss"``) add an O(lam h^2) mismatch that widens the bounds.

    Arguments:
        log_density: vectorised normalised log density, (k, d) -> (k,).
        D: squared error per sample summed over dimensions, > 0.
        lo, hi: box per dimension holding all but a negligible part of the mass.
        n: BA cells per dimension (default 2048 in 1-D, 128 in 2-D).
        tol_bits: certified gap of the discrete BA solve, bits.
        refine: two odd refinement factors, coarse < fine, for the quadrature.
        rule: cell masses for the BA grid ("midpoint" or "gauss").
        align_mean: shift the box by under half a cell so the source mean is a cell centre.
            Directions that get zero rate (inactive components in reverse water-filling) are
            reproduced by their mean; without the shift the upper bound can lose ~lam h^2 / 4.

    Returns:
        A :class:`ContinuousRDCertificate`.
    """
    D = float(D)
    if not math.isfinite(D) or D <= 0:
        raise ValueError(f"D must be finite and > 0, got {D!r}")
    tol = _check_positive(tol_bits, "tol_bits") * _LN2
    r1, r2 = (int(r) for r in refine)
    if len(tuple(refine)) != 2 or not (1 <= r1 < r2) or r1 % 2 == 0 or r2 % 2 == 0:
        raise ValueError(f"refine must be two odd ints 1 <= coarse < fine, got {refine!r}")
    src = grid_source(log_density, lo, hi, n, rule=rule)
    if align_mean:
        # shift the box by < half a cell so that the source mean is a cell centre: directions
        # that get zero rate are reproduced by their mean, which a grid straddling the mean
        # cannot output (the upper bound then loses ~ lam h^2 / 4 nats)
        mean = src.masses @ src.points
        shift = tuple(
            float(mu - ax[int(np.argmin(np.abs(ax - mu)))]) for mu, ax in zip(mean, src.axes)
        )
        src = grid_source(
            log_density,
            [a + s for a, s in zip(src.lo, shift)],
            [b + s for b, s in zip(src.hi, shift)],
            src.shape,
            rule=rule,
        )
    ev = _ContinuousEvaluator(log_density, src)
    mass2 = ev.mass(r2)
    if abs(mass2 - 1.0) > 1e-3:  # a loose check for un-normalised densities; eps_far takes the rest
        raise ValueError(
            f"log_density must be normalised and the box must hold its mass: the widened box holds {mass2:.9g}"
        )
    # mass beyond the widened box; the quadrature error of mass2 is not added here because it
    # is already part of the two-resolution error terms of every bound
    eps_far = max(0.0, 1.0 - mass2)

    # R = 0 once D reaches the distortion of the best constant reproduction
    d_const1, j_const = ev.constant_distortion(r1)
    d_const2, _ = ev.constant_distortion(r2, j_const)
    d_const = d_const2 + abs(d_const2 - d_const1) + eps_far * ev.diag2
    if D >= d_const:
        q = np.zeros(src.masses.size)
        q[j_const] = 1.0
        q.setflags(write=False)
        pt = BAPoint(0.0, D, 0.0, 0.0, 0, True, q)
        return ContinuousRDCertificate(0.0, 0.0, D, 0.0, d_const, pt, {"constant_distortion": d_const})

    problem = _Problem(src.masses, src.distortion, "fft", None)
    _, d_max_disc, _ = problem.distortion_range()
    # aim the discrete D a little low (the continuous D_Q sits within ~1e-9 D of it for smooth
    # densities) and accept 1e-6 relative: the upper bound then costs ~lam * 2e-6 D more
    target = D * (1.0 - 2e-6)
    point: BAPoint | None = None
    res1 = res2 = None
    solved: dict[float, tuple[BAPoint, Array]] = {}  # shared by the retargeted solves
    updates = 0
    for _ in range(8):
        target = min(target, d_max_disc * (1.0 - 1e-6))
        point, v = _at_distortion(problem, target, tol, 100_000, 1e-6, solved)
        updates += point.iterations
        res2 = ev.evaluate(point.slope, v, r2, D, eps_far)
        res1 = ev.evaluate(point.slope, v, r1, D, eps_far)
        dist = res2["dist"] + abs(res2["dist"] - res1["dist"])
        if dist <= D:
            break
        target -= (dist - D) + 1e-6 * D
    assert point is not None and res1 is not None and res2 is not None
    point = _relabel(point, updates)
    _warn_unconverged([point], 100_000, tol_bits)
    e_up = abs(res2["upper"] - res1["upper"])
    e_lo = abs(res2["lower"] - res1["lower"])
    e_d = abs(res2["dist"] - res1["dist"])
    dist = res2["dist"] + e_d
    upper = res2["upper"] + e_up
    if dist > D:  # could not push the channel below D: no valid upper bound from it
        upper = math.inf
    # not clamped at 0: lower + slope * (D - D') must stay a valid bound at every D' (dual line)
    lower = res2["lower"] - e_lo
    errors = {
        "quadrature_distortion": e_d,
        "quadrature_upper": e_up,
        "quadrature_lower": e_lo,
        "mass_beyond_widened_box": eps_far,
        "discrete_gap": point.gap,
    }
    return ContinuousRDCertificate(lower, max(upper, lower), D, point.slope, dist, point, errors)


class _ContinuousEvaluator:
    """Midpoint quadrature of Blahut's bounds for continuous x on refined, widened grids."""

    def __init__(self, log_density: LogDensity, src: GridSource) -> None:
        self.log_density = log_density
        self.src = src
        self.dims = len(src.shape)
        self.ext = tuple(max(1, -(-n // 4)) for n in src.shape)  # widen by a quarter per side
        h = src.spacing
        self.diag2 = float(sum(((b - a) + 2 * e * hh) ** 2 for a, b, e, hh in zip(src.lo, src.hi, self.ext, h)))
        self._cache: dict[int, tuple[Array, tuple[Array, ...]]] = {}

    def fine(self, r: int) -> tuple[Array, tuple[Array, ...]]:
        """Fine cell masses p(x) dx (not normalised) and fine centres per axis at refinement r."""
        if r not in self._cache:
            axes = []
            for a, n, e, hh in zip(self.src.lo, self.src.shape, self.ext, self.src.spacing):
                f = (n + 2 * e) * r
                axes.append(a - e * hh + (np.arange(f) + 0.5) * hh / r)
            vol = float(np.prod([hh / r for hh in self.src.spacing]))
            logp = _log_density_on(self.log_density, _mesh(axes))
            p = np.exp(logp).reshape(tuple(ax.size for ax in axes)) * vol
            self._cache[r] = (p, tuple(axes))
        return self._cache[r]

    def mass(self, r: int) -> float:
        return float(self.fine(r)[0].sum())

    def constant_distortion(self, r: int, j: int | None = None) -> tuple[float, int]:
        """min_j E|X - y_j|^2 over cell centres (or at the given j), by quadrature on the widened box."""
        p, axes = self.fine(r)
        mean = []
        second = 0.0
        for a, ax in enumerate(axes):
            marg = p.sum(axis=tuple(b for b in range(self.dims) if b != a))
            mean.append(float(marg @ ax))
            second += float(marg @ (ax * ax))
        ys = self.src.points
        mass = float(p.sum())
        col = second - 2.0 * ys @ np.array(mean) + mass * (ys * ys).sum(axis=1)
        if j is None:
            j = int(np.argmin(col))
        return float(col[j]), j

    def evaluate(self, lam: float, v: Array, r: int, target_D: float, eps_far: float) -> dict[str, float]:
        src = self.src
        p, axes = self.fine(r)
        fshape = p.shape
        spacing = tuple(hh / r for hh in src.spacing)
        vmax = float(v.max())
        qs = np.exp(v - vmax).reshape(src.shape)
        q_f = np.zeros(fshape)
        centre = tuple(slice(e * r + (r - 1) // 2, (e + n) * r, r) for e, n in zip(self.ext, src.shape))
        q_f[centre] = qs
        ker = _Kernel(lam, spacing, tuple(sfft.next_fast_len(2 * f - 1, real=True) for f in fshape))
        zs = ker.conv(q_f, "k", fshape)
        ns = ker.conv(q_f, "d", fshape)
        dz, dn = ker.err(q_f, "k"), ker.err(q_f, "d")
        # nearest BA output for every fine x (used where Z is below its round-off bound)
        jidx = [np.clip(np.arange(f) // r - e, 0, n - 1) for f, e, n in zip(fshape, self.ext, src.shape)]
        near = np.zeros(fshape)
        for a, (ax, ji, base_ax) in enumerate(zip(axes, jidx, src.axes)):
            shape = [1] * self.dims
            shape[a] = ax.size
            near = near + ((ax - base_ax[ji]) ** 2).reshape(shape)
        v_at_x = v.reshape(src.shape)[np.ix_(*jidx)]
        terms = _grid_terms(lam, p, v_at_x, vmax, zs, ns, dz, dn, near, _DROP_MASSES_CONTINUOUS)
        # beyond the widened box (mass eps_far): Y = nearest y_j, rate <= eps max log 1/q_j
        dist = terms.dist + eps_far * self.diag2
        upper = terms.upper + eps_far * float(-v.min())
        cs = ker.conv(terms.w, "k", fshape)
        lower = -math.inf
        for k in range(terms.w.shape[0]):
            cmax = self._sup(terms.w[k], cs[k], axes, spacing, lam) + ker.err(terms.w[k], "k")
            c_sup = cmax * math.exp(-vmax) + eps_far
            lower = max(lower, -lam * target_D + terms.neg_log_z - float(terms.pens[k]) - math.log(c_sup))
        return {"dist": dist, "upper": upper, "lower": lower}

    def _sup(self, w: Array, c_grid: Array, axes: Sequence[Array], spacing: Sequence[float], lam: float) -> float:
        """max of c(y) = sum_x w(x) e^{-lam |x - y|^2}: grid max, refined on 5^d sub-grids.

        The kernel is a product over axes, so c on a sub-grid is w contracted with one small
        (5, F_a) kernel matrix per axis: exact sums over every fine x at O(5 d F) cost.
        """
        best = float(c_grid.max())
        offs = np.linspace(-0.5, 0.5, 5)
        for flat in np.argsort(c_grid, axis=None)[-3:]:
            idx = np.unravel_index(flat, c_grid.shape)
            vals = w
            for ax, i, s in zip(axes, idx, spacing):
                ys = ax[i] + offs * s
                kmat = np.exp(-lam * (ys[:, None] - ax[None, :]) ** 2)
                vals = np.tensordot(vals, kmat, axes=([0], [1]))  # contracts the leading axis
            best = max(best, float(vals.max()))
        return best
