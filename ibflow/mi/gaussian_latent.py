"""A jointly Gaussian (or Gaussian scale-mixture) latent (U, V) with a learned covariance: log densities, pointwise MI, canonical correlations."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from estimators.closed_form import canonical_correlations, gaussian_mi_from_correlations
# the scale grid 2^-3 .. 2^3 of the elliptical models, and the scale mixture's EM
from estimators.densities import DEFAULT_SCALES, LOG_2PI, ScaleMixture

__all__ = ["JointGaussian", "DEFAULT_SCALES"]


def _scaled_log_prob(maha: Tensor, half_logdet: Tensor, dim: int, log_c: Tensor, log_weights: Tensor) -> Tensor:
    """log sum_k pi_k N(w; 0, c_k S) per row from the Mahalanobis distances w^T S^{-1} w and log det(S) / 2."""
    comps = log_weights[None, :] - 0.5 * dim * log_c[None, :] - 0.5 * maha[:, None] * torch.exp(-log_c)[None, :]
    return torch.logsumexp(comps, 1) - half_logdet - 0.5 * dim * LOG_2PI


class JointGaussian(nn.Module):
    r"""(U, V) ~ N(0, S) in dim_u + dim_v dimensions, S = L L^T with a learned lower Cholesky factor;
    with ``scales``, the Gaussian scale mixture sum_k pi_k N(0, c_k S) with learned weights instead.

    The marginals are N(0, S_uu) and N(0, S_vv) (for the mixture: the same mixture of N(0, c_k S_uu),
    N(0, c_k S_vv)), so the pointwise mutual information of the model is
    log p(u, v) - log p(u) - log p(v) in closed form. For the Gaussian its mutual information is
    -1/2 sum_k log(1 - rho_k^2) in the canonical correlations rho_k of S (Gelfand & Yaglom 1957;
    Butakov et al. 2024, eq. 4): :meth:`canonical_correlations`, :meth:`mutual_information`.
    The scale mixture is elliptical, as the multivariate Student-t (a continuous scale mixture,
    Andrews & Mallows 1974) is: a dependence through a shared scale, which no Gaussian latent of
    marginal maps can express. Before :meth:`fit` its weights put almost all mass on c = 1. The
    factor L is stored as its strictly lower part plus the log of its diagonal (so that it stays a Cholesky factor under any
    gradient step).
    """

    def __init__(self, dim_u: int, dim_v: int, scales: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.dim_u = dim_u
        self.dim_v = dim_v
        self.raw = nn.Parameter(torch.zeros(dim_u + dim_v, dim_u + dim_v))
        c = torch.tensor((1.0,) if scales is None else tuple(scales), dtype=torch.float32)
        if torch.any(c <= 0) or not torch.any(c == 1.0):
            raise ValueError(f"scales must be positive and include 1.0, got {scales}")
        self.register_buffer("log_c", torch.log(c))
        self.logits = nn.Parameter(torch.where(c == 1.0, 0.0, -6.0)) if scales is not None else None

    @property
    def elliptical(self) -> bool:
        return self.logits is not None

    @torch.no_grad()
    def fit(self, w: Tensor, ridge: float = 1e-6) -> None:
        """The maximum-likelihood start from the rows of ``w``: S the (ridged) sample covariance about 0; for
        the scale mixture, S and the weights fitted by EM (:class:`~estimators.densities.ScaleMixture`)."""
        w = w.double()
        if self.logits is None:
            cov = w.T @ w / w.shape[0]
            cov = cov + ridge * torch.trace(cov) / cov.shape[0] * torch.eye(cov.shape[0], dtype=cov.dtype)
            chol = torch.linalg.cholesky(cov)
        else:
            em = ScaleMixture(w.numpy(), tuple(torch.exp(self.log_c).double().tolist()), ridge=ridge)
            chol = torch.as_tensor(em.chol)
            self.logits.copy_(torch.as_tensor(np.log(em.weights)).to(self.logits.dtype))
        self.raw.copy_((torch.tril(chol, -1) + torch.diag(torch.log(torch.diagonal(chol)))).to(self.raw.dtype))

    def cholesky(self) -> Tensor:
        return torch.tril(self.raw, -1) + torch.diag(torch.exp(torch.diagonal(self.raw)))

    def covariance(self) -> Tensor:
        chol = self.cholesky()
        return chol @ chol.T

    def weights(self) -> Tensor:
        """The mixture weights pi_k over the scales (one weight 1 for the Gaussian)."""
        return torch.ones(1, dtype=self.raw.dtype) if self.logits is None else torch.softmax(self.logits, 0)

    def _log_density(self, w: Tensor, chol: Tensor) -> Tensor:
        r = torch.linalg.solve_triangular(chol, w.T, upper=False)
        half_logdet = torch.log(torch.diagonal(chol)).sum()
        if self.logits is None:
            return -0.5 * (r**2).sum(0) - half_logdet - 0.5 * w.shape[1] * LOG_2PI
        log_c = self.log_c.to(w.dtype)
        log_weights = torch.log_softmax(self.logits.to(w.dtype), 0)
        return _scaled_log_prob((r**2).sum(0), half_logdet, w.shape[1], log_c, log_weights)

    def log_prob(self, u: Tensor, v: Tensor) -> Tensor:
        """log p(u_i, v_i) of the latent per row."""
        return self._log_density(torch.cat([u, v], 1), self.cholesky().to(u.dtype))

    def pmi(self, u: Tensor, v: Tensor) -> Tensor:
        """log p(u, v) - log p(u) - log p(v) per row: the model's pointwise MI."""
        chol = self.cholesky().to(u.dtype)
        cov = chol @ chol.T
        # the top-left block of a lower Cholesky factor is the factor of S_uu; S_vv needs its own
        chol_v = torch.linalg.cholesky(cov[self.dim_u :, self.dim_u :])
        return (self._log_density(torch.cat([u, v], 1), chol) - self._log_density(u, chol[: self.dim_u, : self.dim_u])
                - self._log_density(v, chol_v))

    def canonical_correlations(self) -> np.ndarray:
        """The canonical correlations of S between the U and V blocks, descending
        (:func:`estimators.closed_form.canonical_correlations`, float64)."""
        return canonical_correlations(self.covariance().detach().double().numpy(), self.dim_u)

    def mutual_information(self) -> float:
        """I(U; V) of the Gaussian N(0, S) = -1/2 sum log(1 - rho_k^2), nats, in float64 (for the scale
        mixture: of its Gaussian part, a lower value than the mixture's whenever the weights spread)."""
        return gaussian_mi_from_correlations(self.canonical_correlations())
