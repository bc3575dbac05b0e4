"""A jointly Gaussian pair (X, Y) for source coding with side information Y at the decoder, and its exact limits (nats)."""

from __future__ import annotations

import math

import torch

from synthetic.checks import check_correlation, check_positive, check_sample_count
from synthetic.distributed.wyner_ziv_gaussian import (
    conditional_variance,
    gaussian_rd_without_side_information,
    wyner_ziv_gaussian_rd,
    wz_gaussian_test_channel,
)
from synthetic.sources.base import torch_generator

__all__ = ["GaussianSideInformation"]


class GaussianSideInformation:
    """(X, Y) jointly Gaussian with zero means, Var X = ``variance``, Var Y = 1 and correlation ``rho``.

    Samples come as one tensor [x, y] of shape (n, 2), the batch a Wyner-Ziv codec trains on
    (:class:`ibflow.vector.WynerZivFlowCodec`): X = sqrt(s2) G1, Y = rho G1 + sqrt(1 - rho^2) G2 with
    G1, G2 independent N(0, 1). The scale of Y changes no rate; Var Y = 1 matches the default
    ``side_variance`` of :func:`synthetic.distributed.wz_gaussian_estimator_weights`.

    The limits are those of :mod:`synthetic.distributed.wyner_ziv_gaussian`: with Y at the decoder only,
    R_WZ(D) = max(0, 1/2 log(s2 (1 - rho^2) / D)) (Wyner 1978), against R(D) = max(0, 1/2 log(s2 / D))
    without side information.

    Arguments:
        rho: correlation of X and Y, in [-1, 1].
        variance: Var X = s2 > 0.

    Example:
        >>> pair = GaussianSideInformation(0.9)
        >>> pair.sample(4, seed=0).shape
        torch.Size([4, 2])
        >>> round(pair.wyner_ziv_rd(0.05), 4), round(pair.rd_without_side_information(0.05), 4)
        (0.6675, 1.4979)
    """

    dim = 1
    side_dim = 1

    def __init__(self, rho: float, variance: float = 1.0):
        self.rho = check_correlation(rho, closed=True)
        self.variance = check_positive(variance, "variance")

    @property
    def conditional_variance(self) -> float:
        """Var(X | Y) = s2 (1 - rho^2): the distortion at rate 0 with Y at the decoder."""
        return conditional_variance(self.variance, rho=self.rho)

    def sample(self, n: int, seed: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``n`` pairs [x, y], shape (n, 2); the same ``seed`` gives the same samples."""
        n = check_sample_count(n)
        g = torch.randn(n, 2, generator=torch_generator(seed), dtype=torch.float64)
        x = math.sqrt(self.variance) * g[:, 0]
        y = self.rho * g[:, 0] + math.sqrt(1.0 - self.rho**2) * g[:, 1]
        return torch.stack([x, y], dim=1).to(dtype)

    def sample_x_given_y(self, y: torch.Tensor, k: int, seed: int | None = None) -> torch.Tensor:
        """``k`` draws of X from p(x | y) for each row of y (n, 1): shape (n, k, 1), in y's dtype.
        X | Y = y is N(rho sqrt(s2) y, s2 (1 - rho^2)), since Var Y = 1 and Cov(X, Y) = rho sqrt(s2)."""
        k = check_sample_count(k)
        if y.dim() != 2 or y.shape[1] != 1:
            raise ValueError(f"y must have shape (n, 1), got {tuple(y.shape)}")
        g = torch.randn(len(y), k, 1, generator=torch_generator(seed), dtype=torch.float64)
        mean = self.rho * math.sqrt(self.variance) * y.double()[:, None, :]
        return (mean + math.sqrt(self.conditional_variance) * g).to(y.dtype)

    def wyner_ziv_rd(self, D: float) -> float:
        """R_WZ(D) in nats (:func:`synthetic.distributed.wyner_ziv_gaussian_rd`)."""
        return wyner_ziv_gaussian_rd(D, self.variance, rho=self.rho)

    def rd_without_side_information(self, D: float) -> float:
        """R(D) of X alone in nats (:func:`synthetic.distributed.gaussian_rd_without_side_information`)."""
        return gaussian_rd_without_side_information(D, self.variance)

    def test_channel(self, noise_variance: float) -> tuple[float, float]:
        """(I(X; U | Y), E[(X - E[X | U, Y])^2]) of U = X + W, W ~ N(0, ``noise_variance``), on R_WZ
        (:func:`synthetic.distributed.wz_gaussian_test_channel`)."""
        return wz_gaussian_test_channel(noise_variance, self.variance, rho=self.rho)
