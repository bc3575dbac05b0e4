"""A Gaussian-mixture latent (U, V) with full covariances: EM start, log densities and pointwise MI in closed form."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from estimators.densities import LOG_2PI, gaussian_log_density

__all__ = ["MixtureLatent", "fit_gaussian_mixture"]


def fit_gaussian_mixture(w: np.ndarray, components: int, seed: int = 0, iterations: int = 100,
                         ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Maximum-likelihood Gaussian mixture by EM (Dempster, Laird & Rubin 1977; Bishop 2006, sec. 9.2.2).

    Started from k-means++ seeding of the means (Arthur & Vassilvitskii 2007) with the pooled
    covariance for every component; each covariance is ridged by ``ridge`` times its mean
    variance, which keeps a component from collapsing onto a few points.

    Arguments:
        w: the rows, shape (n, d).
        components: K >= 1.
        seed: seeds the k-means++ draws.

    Returns:
        (weights (K,), means (K, d), lower Cholesky factors (K, d, d)).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> w = np.concatenate([rng.normal(-3, 1, (500, 1)), rng.normal(3, 1, (500, 1))])
        >>> weights, means, chols = fit_gaussian_mixture(w, 2)
        >>> sorted(np.round(means[:, 0]).tolist()), np.round(weights, 1).tolist()
        ([-3.0, 3.0], [0.5, 0.5])
    """
    n, d = w.shape
    rng = np.random.default_rng(seed)
    centres = [w[rng.integers(n)]]
    for _ in range(1, components):
        dist = np.min([((w - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(w[rng.choice(n, p=dist / dist.sum())] if dist.sum() > 0 else w[rng.integers(n)])
    means = np.array(centres)
    pooled = np.cov(w, rowvar=False, bias=True).reshape(d, d)
    covs = np.repeat(pooled[None], components, 0)
    weights = np.full(components, 1.0 / components)

    def ridged(c: np.ndarray) -> np.ndarray:
        return c + ridge * np.trace(c) / d * np.eye(d)

    for _ in range(iterations if components > 1 else 1):
        chols = np.array([np.linalg.cholesky(ridged(c)) for c in covs])
        comps = np.stack([np.log(p) + gaussian_log_density(w, chol, m) for p, m, chol in zip(weights, means, chols)], axis=1)
        resp = np.exp(comps - comps.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
        mass = resp.sum(0) + 1e-12
        weights = np.maximum(mass / n, 1e-12)
        means = (resp.T @ w) / mass[:, None]
        covs = np.array([((resp[:, k, None] * (w - means[k])).T @ (w - means[k])) / mass[k] for k in range(components)])
    chols = np.array([np.linalg.cholesky(ridged(c)) for c in covs])
    return weights / weights.sum(), means, chols


def _component_log_probs(w: Tensor, means: Tensor, chols: Tensor) -> Tensor:
    """log N(w_i; m_k, L_k L_k^T), shape (n, K), for batched factors (K, d, d)."""
    r = torch.linalg.solve_triangular(chols, (w[None, :, :] - means[:, None, :]).transpose(1, 2), upper=False)
    half_logdet = torch.log(torch.diagonal(chols, dim1=1, dim2=2)).sum(1)
    return (-0.5 * (r**2).sum(1) - half_logdet[:, None] - 0.5 * w.shape[1] * LOG_2PI).T


class MixtureLatent(nn.Module):
    r"""(U, V) ~ sum_k pi_k N(m_k, S_k) in dim_u + dim_v dimensions, with learned weights, means and full covariances.

    The marginals are the same mixtures of the components' marginals, N(m_k^u, S_k^uu) and
    N(m_k^v, S_k^vv), so the pointwise MI log p(u, v) - log p(u) - log p(v) is a difference of
    log-sum-exps, exact at every point, as for the mixtures of Czyż et al. (AISTATS 2024). With
    this latent the flow estimator models dependence that is not elliptical: several clusters, or
    an "X" of two opposite correlations, which no pair of marginal maps makes Gaussian. Each S_k
    is stored as its Cholesky factor (strict lower part plus log-diagonal).
    """

    def __init__(self, dim_u: int, dim_v: int, components: int) -> None:
        super().__init__()
        if components < 1:
            raise ValueError(f"components must be >= 1, got {components}")
        d = dim_u + dim_v
        self.dim_u, self.dim_v, self.components = dim_u, dim_v, components
        self.logits = nn.Parameter(torch.zeros(components))
        self.means = nn.Parameter(torch.zeros(components, d))
        self.raw = nn.Parameter(torch.zeros(components, d, d))

    @torch.no_grad()
    def fit(self, w: Tensor, seed: int = 0) -> None:
        """Start at the EM fit (:func:`fit_gaussian_mixture`) to the rows of ``w``."""
        weights, means, chols = fit_gaussian_mixture(w.double().numpy(), self.components, seed)
        self.logits.copy_(torch.as_tensor(np.log(weights)))
        self.means.copy_(torch.as_tensor(means))
        c = torch.as_tensor(chols)
        self.raw.copy_(torch.tril(c, -1) + torch.diag_embed(torch.log(torch.diagonal(c, dim1=1, dim2=2))))

    def cholesky(self) -> Tensor:
        return torch.tril(self.raw, -1) + torch.diag_embed(torch.exp(torch.diagonal(self.raw, dim1=1, dim2=2)))

    def _log_mixture(self, w: Tensor, means: Tensor, chols: Tensor) -> Tensor:
        log_weights = torch.log_softmax(self.logits.to(w.dtype), 0)
        return torch.logsumexp(log_weights[None, :] + _component_log_probs(w, means, chols), 1)

    def log_prob(self, u: Tensor, v: Tensor) -> Tensor:
        """log p(u_i, v_i) per row."""
        return self._log_mixture(torch.cat([u, v], 1), self.means.to(u.dtype), self.cholesky().to(u.dtype))

    def pmi(self, u: Tensor, v: Tensor) -> Tensor:
        """log p(u, v) - log p(u) - log p(v) per row: the model's pointwise MI."""
        du = self.dim_u
        chols = self.cholesky().to(u.dtype)
        means = self.means.to(u.dtype)
        cov_v = chols[:, du:, :] @ chols[:, du:, :].transpose(1, 2)  # S_k^vv = L21 L21^T + L22 L22^T
        return (self._log_mixture(torch.cat([u, v], 1), means, chols)
                - self._log_mixture(u, means[:, :du], chols[:, :du, :du])  # the top-left factor is S_k^uu's
                - self._log_mixture(v, means[:, du:], torch.linalg.cholesky(cov_v)))
