"""Dense and FFT operators of the Blahut-Arimoto map: Z(x), c(y) and Blahut's bounds for one iterate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import fft as sfft
from scipy.special import logsumexp

__all__ = [
    "DROP_MASSES",
    "DROP_MASSES_CONTINUOUS",
    "TINY",
    "Array",
    "Certificate",
    "DenseOperator",
    "Evaluation",
    "GaussianKernel",
    "GridOperator",
    "GridSquaredError",
    "GridTerms",
    "certify_grid",
    "fft_error_bound",
    "grid_terms",
    "safe_log",
]

Array = NDArray[np.float64]

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2.0  # unit roundoff
TINY = float(np.finfo(np.float64).tiny)
# Error model for an FFT convolution (Higham 2002, Accuracy and Stability, Ch. 24): each
# length-N transform has relative 2-norm error <= log2(N) * eta with eta ~ 5u for accurate
# twiddles. We use eta = 10u, a safety factor of about two over the theorem's constant.
FFT_ETA = 10.0 * UNIT_ROUNDOFF
# A point x is "reliable" on the FFT path when Z(x) exceeds this multiple of its error bound.
RELIABLE = 64.0
# Source mass the FFT certificates may "drop" from the lower bound (see grid_terms): a full
# ladder on the discrete path (one batched FFT), a short one on the large continuous grids.
DROP_MASSES = (1e-15, 1e-12, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
DROP_MASSES_CONTINUOUS = (1e-15, 1e-12, 1e-9, 1e-7)


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


def safe_log(x: Array) -> Array:
    """log x with log 0 = -inf and no warning (dead outputs of q have log q = -inf)."""
    with np.errstate(divide="ignore"):
        return np.log(x)


@dataclass
class Certificate:
    """Blahut's bounds at one iterate: the test channel's distortion and the lower and upper rate (nats)."""

    distortion: float
    lower: float
    upper: float

    @property
    def gap(self) -> float:
        return self.upper - self.lower


@dataclass
class Evaluation:
    """One evaluation of the Blahut-Arimoto map at log q = v (rows = slopes)."""

    log_z: Array  # (L, n)
    log_c: Array  # (L, m)
    merit: Array  # (L,)  -sum_x p log Z(x), the convex objective BA decreases


# dense reference path (any distortion matrix), vectorised over slopes


class DenseOperator:
    """Blahut-Arimoto map for any distortion matrix d(x, y), all slopes at once (rows of v)."""

    def __init__(self, p: Array, d: Array) -> None:
        self.p = p
        self.log_p = safe_log(p)
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

    def evaluate(self, lam: Array, v: Array) -> Evaluation:
        a, _, _, log_z = self._joint(lam, v)
        # log c(y) = log sum_x p(x) exp(-lam d(x,y)) / Z(x)  (Blahut 1972, eq. 7)
        log_c = logsumexp((self.log_p[None, :] - log_z)[:, :, None] + a, axis=1)
        merit = -(self.p[None, :] * log_z).sum(axis=1)
        return Evaluation(log_z, log_c, merit)

    def certify(self, lam: Array, v: Array) -> list[Certificate]:
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
            out.append(Certificate(float(dist[i]), float(lower), float(max(upper[i], lower))))
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


# FFT path for squared error on a uniform grid


def fft_error_bound(a1: float, a2: float, b1: float, b2: float, size: int) -> float:
    """Max-norm error bound of an FFT convolution of a and b (1- and 2-norms given).

    Three transforms of length N, each with 2-norm relative error log2(N) * eta, and one
    pointwise product give ``|err|_inf <= |err|_2 <= (log2 N + 1) eta (2 |a|_2 |b|_1 + |a|_1 |b|_2)``,
    using |FFT a|_2 = sqrt(N) |a|_2 and |FFT b|_inf <= |b|_1; the roles of a and b can swap.
    """
    lg = math.log2(max(size, 2)) + 1.0
    return lg * FFT_ETA * min(2 * a2 * b1 + a1 * b2, 2 * b2 * a1 + b1 * a2)


class GaussianKernel:
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
        return fft_error_bound(a1, a2, b1, b2, self.size) + a1 * 1e3 * TINY


class GridOperator:
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
        self._kernels: dict[float, GaussianKernel] = {}

    def kernel(self, lam: float) -> GaussianKernel:
        ker = self._kernels.get(lam)
        if ker is None:
            ker = GaussianKernel(lam, self.grid.spacing, self.fshape)
            self._kernels = {lam: ker}  # keep only the current slope
        return ker

    def evaluate(self, lam: Array, v: Array) -> Evaluation:
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
        return Evaluation(log_z, log_c, merit)

    def certify(self, lam: Array, v: Array) -> list[Certificate]:
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
            terms = grid_terms(float(la), self.p, vi, vmax, zs, ns, dz, dn, None)
            out.append(certify_grid(float(la), terms, ker, self.shape))
        return out


@dataclass
class GridTerms:
    """Round-off-safe pieces of Blahut's bounds on a grid (see :func:`grid_terms`)."""

    dist: float  # distortion of the (mixed) test channel, error bar included
    upper: float  # E_x KL(Q(.|x) || q) of that channel, error bar included
    neg_log_z: float  # -sum_x p(x) log Zt(x) with Zt = Z_fft on reliable x, 1 elsewhere
    w: Array  # candidate p / Zt in units of 1/q_max, shape (k, *grid)
    pens: Array  # extra -sum p log Zt of each candidate (dropping points costs rate)
    vmax: float


def grid_terms(
    lam: float,
    p: Array,
    v_at_x: Array,
    vmax: float,
    zs: Array,
    ns: Array,
    dz: float,
    dn: float,
    fallback_d: Array | None,
    drop_masses: Sequence[float] = DROP_MASSES,
) -> GridTerms:
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
    is dual feasible; see DenseOperator._best_dual), so Zt is ours to choose and
    only ct needs error bars (added by the caller). We take Zt = Z_fft on reliable x and
    Zt = 1 (>= Z, as sum q = 1) elsewhere, and offer candidates that also set Zt = 1 on the
    smallest-p points holding mass <= each of ``drop_masses``: slowly converging far tails or
    small-p cells then stop dominating max ct, at a cost of ``sum p log(1/Z)`` over them.
    """
    pos = p > 0
    rel = pos & (zs > RELIABLE * dz)
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
    return GridTerms(dist, upper, -float((pr * log_z).sum()), np.stack(stack), np.array(pens), vmax)


def certify_grid(lam: float, terms: GridTerms, ker: GaussianKernel, shape: tuple[int, ...]) -> Certificate:
    """Discrete-grid certificate: the lower bound's max over y runs over the grid points."""
    cs = ker.conv(terms.w, "k", shape)
    lower = -math.inf
    for k in range(terms.w.shape[0]):
        log_cmax = math.log(float(cs[k].max()) + ker.err(terms.w[k], "k")) - terms.vmax
        lower = max(lower, -lam * terms.dist + terms.neg_log_z - terms.pens[k] - log_cmax)
    return Certificate(terms.dist, lower, max(terms.upper, lower))
