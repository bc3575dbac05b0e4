"""Exact divergences between Gaussians and mutual information of jointly Gaussian vectors (nats)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

__all__ = [
    "gaussian_kl",
    "gaussian_renyi",
    "gaussian_chi2",
    "gaussian_bhattacharyya",
    "gaussian_hellinger2",
    "gaussian_tv",
    "canonical_correlations",
    "gaussian_mi",
    "gaussian_mi_from_correlations",
]


def _mean(m: ArrayLike, name: str) -> np.ndarray:
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if m.ndim != 1:
        raise ValueError(f"{name} must be a vector, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be finite")
    return m


def _cov(s: ArrayLike, d: int, name: str) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if s.ndim == 0:
        s = s.reshape(1, 1)
    if s.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}), got {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} must be finite")
    if not np.allclose(s, s.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    try:
        np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None
    return s


def _pair(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> tuple[np.ndarray, ...]:
    m1 = _mean(m1, "m1")
    m2 = _mean(m2, "m2")
    if m2.shape != m1.shape:
        raise ValueError(f"m2 must have shape {m1.shape}, got {m2.shape}")
    d = m1.shape[0]
    return m1, _cov(s1, d, "s1"), m2, _cov(s2, d, "s2")


def _logdet(s: np.ndarray) -> float:
    return float(2.0 * np.sum(np.log(np.diag(np.linalg.cholesky(s)))))


def _is_pd(s: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(s)
    except np.linalg.LinAlgError:
        return False
    return True


def gaussian_kl(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> float:
    r"""KL(N(m1, s1) || N(m2, s2)) in nats.

    KL = 1/2 [tr(s2^-1 s1) + dm^T s2^-1 dm - d + log det s2 - log det s1]
    (the standard Gaussian identity; Rasmussen & Williams 2006, eq. A.23).

    Example:
        >>> gaussian_kl([0.0], [[1.0]], [1.0], [[1.0]])
        0.5
    """
    m1, s1, m2, s2 = _pair(m1, s1, m2, s2)
    dm = m2 - m1
    s2_inv_s1 = np.linalg.solve(s2, s1)
    quad = float(dm @ np.linalg.solve(s2, dm))
    return 0.5 * (float(np.trace(s2_inv_s1)) + quad - m1.shape[0] + _logdet(s2) - _logdet(s1))


def gaussian_renyi(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike, alpha: float) -> float:
    r"""Renyi divergence D_alpha(N(m1, s1) || N(m2, s2)) = 1/(alpha-1) log int p^alpha q^(1-alpha).

    With s_a = alpha s2 + (1 - alpha) s1 (Gil, Alajaji & Linder 2013):
    D_alpha = alpha/2 dm^T s_a^-1 dm - 1/(2(alpha-1)) log(det s_a / (det s1^(1-alpha) det s2^alpha)).
    Returns ``inf`` when s_a is not positive definite (the integral diverges, alpha > 1);
    alpha = 1 is the KL divergence.
    """
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be positive and finite, got {alpha}")
    if alpha == 1:
        return gaussian_kl(m1, s1, m2, s2)
    m1, s1, m2, s2 = _pair(m1, s1, m2, s2)
    sa = alpha * s2 + (1.0 - alpha) * s1
    if not _is_pd(sa):
        return math.inf
    dm = m1 - m2
    quad = float(dm @ np.linalg.solve(sa, dm))
    logdet = _logdet(sa) - (1.0 - alpha) * _logdet(s1) - alpha * _logdet(s2)
    return 0.5 * alpha * quad - logdet / (2.0 * (alpha - 1.0))


def gaussian_chi2(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> float:
    r"""Pearson chi^2(N(m1, s1) || N(m2, s2)) = int p^2/q - 1 = exp(D_2) - 1.

    Finite only when 2 s2 - s1 is positive definite, else ``inf`` (REFERENCES.md, f-divergences).
    """
    d2 = gaussian_renyi(m1, s1, m2, s2, 2.0)
    return math.inf if math.isinf(d2) else math.expm1(d2)


def gaussian_bhattacharyya(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> float:
    r"""Bhattacharyya coefficient BC = int sqrt(p q) = exp(-D_B), in (0, 1].

    D_B = 1/8 dm^T s^-1 dm + 1/2 log(det s / sqrt(det s1 det s2)), s = (s1 + s2)/2
    (Bhattacharyya 1943; Kailath 1967). Equals exp(-D_(1/2)/2).
    """
    m1, s1, m2, s2 = _pair(m1, s1, m2, s2)
    s = 0.5 * (s1 + s2)
    dm = m1 - m2
    db = 0.125 * float(dm @ np.linalg.solve(s, dm)) + 0.5 * (_logdet(s) - 0.5 * (_logdet(s1) + _logdet(s2)))
    return math.exp(-db)


def gaussian_hellinger2(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> float:
    r"""Squared Hellinger distance int (sqrt p - sqrt q)^2 = 2 (1 - BC), in [0, 2].

    This is the f-divergence with f(u) = (sqrt u - 1)^2 (REFERENCES.md table), twice the
    convention H^2 = 1 - BC used by some authors.
    """
    return 2.0 * (1.0 - gaussian_bhattacharyya(m1, s1, m2, s2))


def gaussian_tv(m1: ArrayLike, s1: ArrayLike, m2: ArrayLike, s2: ArrayLike) -> float:
    r"""Total variation sup_A |P(A) - Q(A)| = 1/2 int |p - q|, in [0, 1].

    Equal covariances: 2 Phi(delta/2) - 1 with delta the Mahalanobis distance of the means.
    1-D with unequal variances: exact, from the two points where the densities cross
    (P - Q summed over the intervals where p > q). Otherwise no closed form exists and
    ``NotImplementedError`` is raised.
    """
    m1, s1, m2, s2 = _pair(m1, s1, m2, s2)
    if np.allclose(s1, s2, rtol=1e-12, atol=0.0):
        dm = m1 - m2
        delta = math.sqrt(max(float(dm @ np.linalg.solve(s1, dm)), 0.0))
        return float(2.0 * ndtr(delta / 2.0) - 1.0)
    if m1.shape[0] != 1:
        raise NotImplementedError("TV between Gaussians has a closed form only for equal covariances or in 1-D")
    mu1, mu2 = float(m1[0]), float(m2[0])
    a, b = float(s1[0, 0]), float(s2[0, 0])
    sd1, sd2 = math.sqrt(a), math.sqrt(b)
    # log p1 = log p2  <=>  (a - b) x^2 + 2 (mu1 b - mu2 a) x + (a mu2^2 - b mu1^2 + a b log(b/a)) = 0;
    # with a != b the discriminant is positive, so there are always two crossings.
    qa = a - b
    qb = 2.0 * (mu1 * b - mu2 * a)
    qc = a * mu2**2 - b * mu1**2 + a * b * math.log(b / a)
    roots = np.sort(np.roots([qa, qb, qc]).real)
    edges = [-math.inf, float(roots[0]), float(roots[1]), math.inf]
    cdf1 = [float(ndtr((e - mu1) / sd1)) for e in edges]
    cdf2 = [float(ndtr((e - mu2) / sd2)) for e in edges]
    # p1 > p2 in the middle interval iff p1 is the narrower density (a < b).
    middle = cdf1[2] - cdf1[1] - (cdf2[2] - cdf2[1])
    return float(min(max(middle if a < b else -middle, 0.0), 1.0))


def _joint_cov(cov: ArrayLike, dim_x: int) -> np.ndarray:
    """A validated joint covariance of (X, Y), X the first ``dim_x`` coordinates; ValueError naming the argument."""
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {cov.shape}")
    d = cov.shape[0]
    if not (0 < dim_x < d):
        raise ValueError(f"dim_x must be in [1, {d - 1}], got {dim_x}")
    return _cov(cov, d, "cov")


def canonical_correlations(cov: ArrayLike, dim_x: int) -> np.ndarray:
    r"""Canonical correlations of (X, Y) from the joint covariance, X the first ``dim_x`` coordinates.

    The singular values of s_xx^-1/2 s_xy s_yy^-1/2 (Hotelling 1936), sorted descending.
    """
    cov = _joint_cov(cov, dim_x)
    lx = np.linalg.cholesky(cov[:dim_x, :dim_x])
    ly = np.linalg.cholesky(cov[dim_x:, dim_x:])
    # whitening with Cholesky factors gives the same singular values as symmetric square roots
    m = np.linalg.solve(lx, np.linalg.solve(ly, cov[dim_x:, :dim_x]).T)
    return np.clip(np.linalg.svd(m, compute_uv=False), 0.0, 1.0)


def gaussian_mi(cov: ArrayLike, dim_x: int) -> float:
    r"""I(X; Y) for jointly Gaussian (X, Y) with joint covariance ``cov``, X the first ``dim_x`` coordinates.

    I = 1/2 log(det s_xx det s_yy / det s) (Cover & Thomas 2nd ed., ch. 8);
    equal to -1/2 sum log(1 - rho_i^2) over the canonical correlations.
    """
    cov = _joint_cov(cov, dim_x)
    return 0.5 * (_logdet(cov[:dim_x, :dim_x]) + _logdet(cov[dim_x:, dim_x:]) - _logdet(cov))


def gaussian_mi_from_correlations(rho: ArrayLike) -> float:
    r"""I = -1/2 sum_i log(1 - rho_i^2) from canonical correlations rho_i in [0, 1] (REFERENCES.md, MI)."""
    rho = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    if rho.ndim != 1 or not np.all(np.isfinite(rho)) or np.any(np.abs(rho) > 1):
        raise ValueError("rho must be a vector of correlations in [-1, 1]")
    return float(-0.5 * np.sum(np.log1p(-(rho**2))))
