"""A Gaussian-mixture reproduction distribution m(y) and the test channel it induces at slope lambda.

For squared error rho(x, y) = |x - y|^2 and a slope lambda > 0, any reproduction distribution m
defines the channel q_m(y|x) = m(y) e^{-lambda rho(x, y)} / u_m(x) with
u_m(x) = E_{Y~m} e^{-lambda rho(x, Y)} (the Blahut-Arimoto channel: Blahut 1972, Thm 1; Csiszar
1974). Its rate and distortion at x are

    KL(q_m(.|x) || m) = -log u_m(x) - lambda D_m(x),    D_m(x) = E_{q_m(.|x)} rho(x, Y),

so E_X KL >= I(X; Y) >= R(E_X D_m(X)): an achievable point, the upper bound (Yang & Mandt 2022,
eq. 5; Yang, Eckstein, Nutz & Mandt 2023, eq. 3 for the Lagrangian ``E[-log u_m]``). With m a mixture
of Gaussians N(mu_k, L_k L_k^T) everything is closed form: with A_k = I + 2 lambda L_k L_k^T,

    u_k(x) = det(A_k)^{-1/2} exp(-lambda (x - mu_k)^T A_k^{-1} (x - mu_k)),
    D_k(x) = |A_k^{-1} (x - mu_k)|^2 + tr(L_k^T A_k^{-1} L_k)

(the Gaussian posterior of component k has covariance Sigma_k A_k^{-1} and mean
x - A_k^{-1}(x - mu_k)), and the mixture's are u = sum_k w_k u_k and D = sum_k r_k D_k with the
posterior weights r_k = w_k u_k / u. ``factor=None`` makes every component a point mass (particles,
the discrete m of Wasserstein gradient descent). The same u_m gives the dual lower bound
(:mod:`estimators.rd.dual`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ChannelTerms", "MixtureReproduction"]

CHUNK = 4096
"""Samples per block in :meth:`MixtureReproduction.channel` (bounds the n x K x d intermediates)."""


@dataclass(frozen=True)
class ChannelTerms:
    """Per-sample terms of the channel q_m at slope ``lam`` (nats, float64, shape (n,))."""

    neg_log_u: Tensor
    """-log u_m(x): the Lagrangian rate + lambda * distortion of the channel at x."""
    distortion: Tensor
    """D_m(x) = E_{q_m(.|x)} |x - Y|^2."""

    def rate_at(self, lam: float) -> Tensor:
        """KL(q_m(.|x) || m) = -log u_m(x) - lam D_m(x), clamped at 0 against rounding."""
        return (self.neg_log_u - lam * self.distortion).clamp_min(0.0)


class MixtureReproduction(nn.Module):
    """m(y) = sum_k softmax(logits)_k N(y; means_k, factors_k factors_k^T), or point masses.

    Arguments:
        means: (K, d) component means (or particle positions).
        factors: (K, d, d) covariance square roots (any real matrices; the covariance is
            ``F F^T``), or None for point masses.
        learn_weights: whether the mixture weights are trained (particles in WGD keep them uniform).

    Example:
        >>> m = MixtureReproduction(torch.zeros(1, 1), torch.ones(1, 1, 1))  # m = N(0, 1)
        >>> t = m.channel(torch.tensor([[0.0]]), lam=0.5)  # A = 2: u(0) = 2^{-1/2}, D(0) = 1/2
        >>> round(float(t.neg_log_u.detach()), 6), round(float(t.distortion.detach()), 6)
        (0.346574, 0.5)
    """

    def __init__(self, means: Tensor, factors: Tensor | None = None, learn_weights: bool = True):
        super().__init__()
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, d), got {tuple(means.shape)}")
        k, d = means.shape
        if factors is not None and factors.shape != (k, d, d):
            raise ValueError(f"factors must have shape {(k, d, d)}, got {tuple(factors.shape)}")
        self.means = nn.Parameter(means.detach().to(torch.float64).clone())
        self.factors = None if factors is None else nn.Parameter(factors.detach().to(torch.float64).clone())
        logits = torch.zeros(k, dtype=torch.float64)
        self.logits = nn.Parameter(logits) if learn_weights else nn.Parameter(logits, requires_grad=False)

    @property
    def components(self) -> int:
        return int(self.means.shape[0])

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def log_weights(self) -> Tensor:
        return torch.log_softmax(self.logits, 0)

    def covariances(self) -> Tensor | None:
        """(K, d, d) component covariances F F^T, or None for point masses."""
        return None if self.factors is None else self.factors @ self.factors.transpose(-1, -2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws from m (float64)."""
        idx = torch.multinomial(self.log_weights().exp().detach(), n, replacement=True, generator=generator)
        y = self.means.detach()[idx]
        if self.factors is not None:
            eps = torch.randn(n, self.dim, 1, dtype=torch.float64, generator=generator)
            y = y + (self.factors.detach()[idx] @ eps).squeeze(-1)
        return y

    def component_terms(self, x: Tensor, lam: float) -> tuple[Tensor, Tensor]:
        """(log w_k u_k(x), D_k(x)), each (n, K)."""
        if self.factors is None:
            sq = torch.cdist(x, self.means).square()  # (n, K), without the (n, K, d) differences
            return self.log_weights()[None] - lam * sq, sq
        diff = x[:, None, :] - self.means[None]  # (n, K, d)
        eye = torch.eye(self.dim, dtype=torch.float64)
        a = eye + 2.0 * lam * self.factors @ self.factors.transpose(-1, -2)  # (K, d, d)
        chol = torch.linalg.cholesky(a)
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        # A^{-1} diff for every (sample, component): solve with the component's Cholesky factor
        rhs = diff.permute(1, 2, 0)  # (K, d, n)
        solved = torch.cholesky_solve(rhs, chol)  # (K, d, n)
        quad = (rhs * solved).sum(1).T  # (n, K): diff^T A^{-1} diff
        resid = (solved**2).sum(1).T  # (n, K): |A^{-1} diff|^2
        trace = (torch.cholesky_solve(self.factors, chol) * self.factors).sum((-2, -1))  # tr(F^T A^{-1} F)
        log_u = self.log_weights()[None] - 0.5 * logdet[None] - lam * quad
        return log_u, resid + trace[None]

    def channel(self, x: Tensor, lam: float) -> ChannelTerms:
        """The per-sample terms of q_m at slope ``lam`` (differentiable in the parameters).

        Arguments:
            x: (n, d) samples.
            lam: the slope lambda > 0 (per unit of squared error, nats).
        """
        if not (lam > 0 and math.isfinite(lam)):
            raise ValueError(f"lam must be finite and > 0, got {lam!r}")
        x = x.to(torch.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (n, {self.dim}), got {tuple(x.shape)}")
        parts_u, parts_d = [], []
        for block in x.split(CHUNK):
            log_wu, dk = self.component_terms(block, lam)
            log_u = torch.logsumexp(log_wu, 1)
            resp = torch.softmax(log_wu, 1)
            parts_u.append(-log_u)
            parts_d.append((resp * dk).sum(1))
        return ChannelTerms(torch.cat(parts_u), torch.cat(parts_d))

    def sample_channel(self, x: Tensor, lam: float, generator: torch.Generator | None = None) -> Tensor:
        """One output y ~ q_m(.|x) per row of x (float64, no gradient): a component k drawn with the
        posterior weights r_k(x), then y from its Gaussian posterior, mean x - A_k^{-1}(x - mu_k) and
        covariance Sigma_k A_k^{-1} = F_k (I + 2 lam F_k^T F_k)^{-1} F_k^T (the atom itself for point masses)."""
        with torch.no_grad():
            x = x.to(torch.float64)
            log_wu, _ = self.component_terms(x, lam)
            k = torch.multinomial(torch.softmax(log_wu, 1), 1, generator=generator).squeeze(1)
            if self.factors is None:
                return self.means[k].clone()
            eye = torch.eye(self.dim, dtype=torch.float64)
            f = self.factors[k]
            a = eye + 2.0 * lam * f @ f.transpose(-1, -2)
            mean = x - torch.linalg.solve(a, (x - self.means[k])[..., None]).squeeze(-1)
            root = torch.linalg.cholesky(torch.linalg.inv(eye + 2.0 * lam * f.transpose(-1, -2) @ f))
            eps = torch.randn(len(x), self.dim, 1, dtype=torch.float64, generator=generator)
            return mean + (f @ root @ eps).squeeze(-1)

    def log_u(self, x: Tensor, lam: float) -> Tensor:
        """log u_m(x) (n,), float64."""
        x = x.to(torch.float64)
        return torch.cat([torch.logsumexp(self.component_terms(b, lam)[0], 1) for b in x.split(CHUNK)])
