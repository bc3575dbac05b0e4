"""Density models fitted by maximum likelihood: Gaussian (closed form), conditional Gaussian (MLP), normal scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.special import ndtri
from torch import Tensor, nn

from .critics import mlp

__all__ = ["GaussianConditional", "ScaleMixture", "NormalScores", "gaussian_log_density", "gaussian_mixture_log_density"]

LOG_2PI = math.log(2.0 * math.pi)
DEFAULT_SCALES = tuple(float(c) for c in 2.0 ** np.linspace(-3, 3, 13))


def gaussian_log_density(z: np.ndarray, cholesky: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    r"""log N(z_i; mean, L L^T) of every row of ``z`` (float64, nats), from the lower Cholesky factor L.

    Example:
        >>> round(float(gaussian_log_density(np.zeros((1, 1)), np.eye(1))[0]), 6)  # -1/2 log(2 pi)
        -0.918939
    """
    a = np.asarray(z, dtype=np.float64) if mean is None else np.asarray(z, dtype=np.float64) - mean
    w = solve_triangular(cholesky, a.T, lower=True, check_finite=False)
    return -0.5 * np.einsum("ij,ij->j", w, w) - np.log(np.diag(cholesky)).sum() - 0.5 * cholesky.shape[0] * LOG_2PI


def gaussian_mixture_log_density(z: np.ndarray, weights: Sequence[float] | np.ndarray, means: Sequence[np.ndarray] | np.ndarray,
                                 choleskys: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    r"""log sum_k pi_k N(z_i; m_k, L_k L_k^T) of every row (float64, nats), the sum taken about its largest term.

    Example:
        >>> z = np.zeros((1, 1)); one = gaussian_log_density(z, np.eye(1))
        >>> bool(np.allclose(gaussian_mixture_log_density(z, [0.5, 0.5], [np.zeros(1)] * 2, [np.eye(1)] * 2), one))
        True
    """
    parts = np.stack([np.log(p) + gaussian_log_density(z, c, m) for p, m, c in zip(weights, means, choleskys)], axis=1)
    top = parts.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(parts - top).sum(axis=1))


class ScaleMixture:
    r"""The Gaussian scale mixture r(u) = sum_k pi_k N(u; m, c_k S), fitted to ``train`` by EM.

    An elliptical model: with the single scale c = 1 it is the maximum-likelihood Gaussian; the
    default grid c_k = 2^{-3..3} (13 scales) also fits heavy-tailed elliptical data such as the
    multivariate t, a continuous scale mixture of Gaussians (Andrews & Mallows 1974). EM for a
    scale mixture with fixed scales (weights w_ik): pi_k = mean_i w_ik; with u_i = sum_k w_ik / c_k,
    m = sum u_i x_i / sum u_i and S = 1/n sum u_i (x_i - m)(x_i - m)^T (McLachlan & Peel 2000,
    ch. 7, the t-mixture EM with a discrete mixing distribution). float64 throughout.
    """

    def __init__(self, train: np.ndarray, scales: Sequence[float] | None = None, iterations: int = 100, ridge: float = 1e-6) -> None:
        self.scales = np.asarray(DEFAULT_SCALES if scales is None else scales, dtype=np.float64)
        c = self.scales
        n, d = train.shape
        m = train.mean(0)
        s = np.cov(train, rowvar=False, bias=True).reshape(d, d)
        jitter = ridge * np.trace(s) / d * np.eye(d)
        pi = np.full(c.size, 1.0 / c.size)
        for _ in range(iterations if c.size > 1 else 0):
            chol = np.linalg.cholesky(s + jitter)
            maha = (np.linalg.solve(chol, (train - m).T) ** 2).sum(0)
            logw = np.log(pi)[None, :] - 0.5 * d * np.log(c)[None, :] - 0.5 * maha[:, None] / c[None, :]
            w = np.exp(logw - logw.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            pi = np.maximum(w.mean(0), 1e-300)
            u = (w / c[None, :]).sum(1)
            m = (u[:, None] * train).sum(0) / u.sum()
            r = train - m
            s = (u[:, None] * r).T @ r / n
        self.weights, self.mean, self.chol = pi, m, np.linalg.cholesky(s + jitter)

    def log_prob(self, a: np.ndarray) -> np.ndarray:
        """log r(a_i) per row."""
        return gaussian_mixture_log_density(a, self.weights, [self.mean] * len(self.scales),
                                            [np.sqrt(c) * self.chol for c in self.scales])


class GaussianConditional(nn.Module):
    r"""q(u|v) = N(A v + b + g(v), s(v)^2 L L^T): linear-plus-MLP mean, learned Cholesky factor L, optional scale.

    With ``heteroscedastic=True`` the MLP also outputs log s(v), so the spread of u may depend on v
    (needed for heavy-tailed pairs such as the multivariate t, whose conditional scale grows
    with |v|); with ``scale_mixture=True`` the Gaussian becomes a learned mixture over the scale
    grid of :class:`ScaleMixture` (heavier conditional tails: the conditional of a
    multivariate t is again a t). Used as the variational conditional of Barber & Agakov (2003) and of the
    difference-of-entropies estimator (McAllester & Stratos 2020).
    """

    def __init__(
        self, dim_u: int, dim_v: int, hidden: int = 256, layers: int = 2, heteroscedastic: bool = False, scale_mixture: bool = False
    ) -> None:
        super().__init__()
        self.dim_u = dim_u
        self.heteroscedastic = heteroscedastic
        # optional learned weights over the fixed scale grid of ScaleMixture, started
        # with almost all mass on c = 1 so that the least-squares start is unchanged
        c = torch.tensor(DEFAULT_SCALES if scale_mixture else [1.0], dtype=torch.float32)
        self.register_buffer("log_c", torch.log(c))
        self.logits = nn.Parameter(torch.where(c == 1.0, 0.0, -6.0)) if scale_mixture else None
        self.linear = nn.Linear(dim_v, dim_u)
        self.net = mlp(dim_v, dim_u + int(heteroscedastic), hidden, layers)
        self.raw_l = nn.Parameter(torch.zeros(dim_u, dim_u))

    def init_least_squares(self, u: Tensor, v: Tensor) -> None:
        """Start at the linear-Gaussian maximum-likelihood fit: least-squares A, b; residual Cholesky; g = 0, s = 1.

        Training then only has to learn what is not linear-Gaussian, so early stopping cannot halt
        it before it reaches the linear fit (which is exact for jointly Gaussian data).
        """
        with torch.no_grad():
            v1 = torch.cat([v, torch.ones(v.shape[0], 1, dtype=v.dtype)], 1).double()
            coef = torch.linalg.lstsq(v1, u.double()).solution
            self.linear.weight.copy_(coef[:-1].T)
            self.linear.bias.copy_(coef[-1])
            res = u.double() - v1 @ coef
            cov = res.T @ res / res.shape[0]
            cov = cov + 1e-6 * torch.trace(cov) / cov.shape[0] * torch.eye(cov.shape[0], dtype=cov.dtype)
            chol = torch.linalg.cholesky(cov)
            self.raw_l.copy_(torch.tril(chol, -1) + torch.diag(torch.log(torch.diagonal(chol))))
            self.net[-1].weight.zero_()
            self.net[-1].bias.zero_()

    def log_prob(self, u: Tensor, v: Tensor) -> Tensor:
        """log q(u_i | v_i) per row."""
        out = self.net(v)
        mean = self.linear(v) + out[:, : self.dim_u]
        chol = torch.tril(self.raw_l, -1) + torch.diag(torch.exp(torch.diagonal(self.raw_l)))
        r = torch.linalg.solve_triangular(chol, (u - mean).T, upper=False).T
        logdet = torch.log(torch.diagonal(chol)).sum()
        if self.heteroscedastic:
            log_s = out[:, self.dim_u]
            r = r * torch.exp(-log_s)[:, None]
            logdet = logdet + self.dim_u * log_s
        maha = (r**2).sum(1)
        if self.logits is None:
            return -0.5 * maha - logdet - 0.5 * self.dim_u * LOG_2PI
        comp = torch.log_softmax(self.logits, 0)[None, :] - 0.5 * self.dim_u * self.log_c[None, :] - 0.5 * maha[:, None] * torch.exp(-self.log_c)[None, :]
        return torch.logsumexp(comp, 1) - logdet - 0.5 * self.dim_u * LOG_2PI


class NormalScores:
    r"""Per-coordinate map u -> Phi^{-1}(F_n(u)) with F_n the training sample's empirical CDF.

    A strictly increasing map of each coordinate, so it leaves mutual information unchanged, and it
    makes each marginal close to N(0, 1) (the Gaussian-copula transform of Ince et al. 2017).
    F_n is linearly interpolated between the sorted training values and clamped to
    [1/(2n), 1 - 1/(2n)], so held-out points map continuously and finitely.
    """

    def __init__(self, train: np.ndarray) -> None:
        self.sorted = np.sort(train, axis=0)
        n = train.shape[0]
        self.levels = (np.arange(1, n + 1) - 0.5) / n

    def __call__(self, a: np.ndarray) -> np.ndarray:
        cols = [np.interp(a[:, j], self.sorted[:, j], self.levels) for j in range(a.shape[1])]
        return ndtri(np.stack(cols, axis=1))
