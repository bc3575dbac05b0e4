"""A jointly Gaussian latent (U, V) with a learned covariance: its log densities, pointwise MI and canonical correlations."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["JointGaussian", "gaussian_log_prob", "canonical_correlations"]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(w: Tensor, chol: Tensor) -> Tensor:
    """log N(w_i; 0, L L^T) per row, for the lower Cholesky factor ``chol`` = L."""
    r = torch.linalg.solve_triangular(chol, w.T, upper=False)
    return -0.5 * (r**2).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * w.shape[1] * LOG_2PI


def canonical_correlations(cov: Tensor, dim_u: int) -> Tensor:
    r"""The canonical correlations rho_1 >= rho_2 >= ... of the blocks (U, V) of a joint covariance.

    The rho_k^2 are the eigenvalues of S_uu^{-1} S_uv S_vv^{-1} S_vu (Hotelling 1936); in float64
    they are the squared singular values of L_u^{-1} S_uv L_v^{-T} with L the Cholesky factors.
    For a Gaussian, I(U; V) = -1/2 sum_k log(1 - rho_k^2) (Gelfand & Yaglom 1957; Butakov et al.
    2024, eq. 4), which is what makes the flow estimator's closed form.

    Example:
        >>> cov = torch.tensor([[1.0, 0.0, 0.6, 0.0], [0.0, 1.0, 0.0, 0.3], [0.6, 0.0, 1.0, 0.0], [0.0, 0.3, 0.0, 1.0]])
        >>> [round(r, 6) for r in canonical_correlations(cov.double(), 2).tolist()]
        [0.6, 0.3]
    """
    cov = cov.double()
    lu = torch.linalg.cholesky(cov[:dim_u, :dim_u])
    lv = torch.linalg.cholesky(cov[dim_u:, dim_u:])
    m = torch.linalg.solve_triangular(lu, cov[:dim_u, dim_u:], upper=False)
    m = torch.linalg.solve_triangular(lv, m.T, upper=False).T
    return torch.linalg.svdvals(m).clamp(max=1.0)


class JointGaussian(nn.Module):
    r"""(U, V) ~ N(0, S) in dim_u + dim_v dimensions, S = L L^T with a learned lower Cholesky factor.

    Its marginals are N(0, S_uu) and N(0, S_vv), so the pointwise mutual information of the model
    is log N((u, v); S) - log N(u; S_uu) - log N(v; S_vv), and its mutual information is the closed
    form of :func:`canonical_correlations`. The factor L is stored as its strictly lower part plus
    the log of its diagonal (so that it stays a Cholesky factor under any gradient step).
    """

    def __init__(self, dim_u: int, dim_v: int) -> None:
        super().__init__()
        self.dim_u = dim_u
        self.dim_v = dim_v
        self.raw = nn.Parameter(torch.zeros(dim_u + dim_v, dim_u + dim_v))

    @torch.no_grad()
    def fit(self, w: Tensor, ridge: float = 1e-6) -> None:
        """Set S to the (ridged) sample covariance of the rows of ``w`` about 0: the maximum-likelihood start."""
        w = w.double()
        cov = w.T @ w / w.shape[0]
        cov = cov + ridge * torch.trace(cov) / cov.shape[0] * torch.eye(cov.shape[0], dtype=cov.dtype)
        chol = torch.linalg.cholesky(cov)
        self.raw.copy_((torch.tril(chol, -1) + torch.diag(torch.log(torch.diagonal(chol)))).to(self.raw.dtype))

    def cholesky(self) -> Tensor:
        return torch.tril(self.raw, -1) + torch.diag(torch.exp(torch.diagonal(self.raw)))

    def covariance(self) -> Tensor:
        chol = self.cholesky()
        return chol @ chol.T

    def log_prob(self, u: Tensor, v: Tensor) -> Tensor:
        """log N((u_i, v_i); 0, S) per row."""
        return gaussian_log_prob(torch.cat([u, v], 1), self.cholesky())

    def pmi(self, u: Tensor, v: Tensor) -> Tensor:
        """log N((u, v); S) - log N(u; S_uu) - log N(v; S_vv) per row: the model's pointwise MI."""
        chol = self.cholesky()
        cov = chol @ chol.T
        # the top-left block of a lower Cholesky factor is the factor of S_uu; S_vv needs its own
        chol_v = torch.linalg.cholesky(cov[self.dim_u :, self.dim_u :])
        return (gaussian_log_prob(torch.cat([u, v], 1), chol) - gaussian_log_prob(u, chol[: self.dim_u, : self.dim_u])
                - gaussian_log_prob(v, chol_v))

    def mutual_information(self) -> float:
        """The model's I(U; V) = -1/2 sum log(1 - rho_k^2), nats, in float64."""
        rho = canonical_correlations(self.covariance().detach(), self.dim_u)
        return float(-0.5 * torch.log1p(-(rho**2)).sum())
