"""Upper bounds on R(D) from samples: a fitted reproduction distribution's test channel, evaluated held out.

For a slope lambda the reproduction m is fitted by minimising the Lagrangian
``E_X[-log u_m(X)] = min_q {E KL(q || m) + lambda E rho}`` on training samples (Yang, Eckstein,
Nutz & Mandt 2023, eq. 3; its minimiser over all m is R(D) + lambda D at the slope's D). Two
families (:class:`~estimators.rd.reproduction.MixtureReproduction`):

- ``gaussian``: one Gaussian, the reverse water-filling answer on the sample covariance (Cover &
  Thomas Thm 10.3.3: the optimum when the data are Gaussian, and for any data a channel whose rate
  is at most the Gaussian bound), not trained;
- ``mixture``: Gaussian components with full covariances, started from a spread of that answer and
  trained by Adam;
- ``particles``: point masses with uniform weights whose positions descend the gradient of the
  same objective (Wasserstein gradient descent, Yang et al. 2023, Alg. 1, with Adam steps); for
  low dimension, where a few thousand atoms cover the data (the channel's rate is at most
  log K nats).

The held-out means of the per-sample KL and distortion are an achievable point (D, R) with
R >= I(X; Y) >= R(D): the bound holds up to their sampling error, which the standard errors give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from estimators.rd.reproduction import MixtureReproduction
from estimators.water_filling import reverse_water_filling

__all__ = [
    "Family", "FitConfig", "UpperPoint", "fit_reproduction", "gaussian_start", "principal_variances", "upper_point",
    "water_level_slope",
]

Family = Literal["gaussian", "mixture", "particles"]


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit_reproduction`.

    ``components``: Gaussian components (``mixture``) or atoms (``particles``; ``gaussian`` has one);
    ``steps`` Adam steps on minibatches of ``batch_size`` (``gaussian`` takes none); ``lr`` in units of the data's standard deviation per
    dimension (Adam's steps are absolute, so they are scaled to the data).
    """

    family: Family = "mixture"
    components: int = 1
    steps: int = 300
    batch_size: int = 4096
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.family not in ("gaussian", "mixture", "particles"):
            raise ValueError(f"family must be 'gaussian', 'mixture' or 'particles', got {self.family!r}")
        if self.components < 1:
            raise ValueError(f"components must be >= 1, got {self.components}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")


@dataclass(frozen=True)
class UpperPoint:
    """An achievable point of a fitted channel on held-out samples (nats; per sample, summed over dims)."""

    lam: float
    distortion: float
    distortion_se: float
    rate: float
    rate_se: float
    method: str
    n: int


def principal_variances(x: Tensor) -> np.ndarray:
    """The eigenvalues of the sample covariance of x (n, d), floored at 1e-12: the variances reverse
    water-filling runs on (in the principal frame, not the coordinates' own)."""
    cov = np.atleast_2d(np.cov(x.double().numpy(), rowvar=False))
    return np.clip(np.linalg.eigvalsh(cov), 1e-12, None)


def water_level_slope(variances: np.ndarray, D: float) -> float:
    """The slope lambda = 1 / (2 theta) of reverse water-filling at total distortion D on
    ``variances`` (:func:`principal_variances`): the Gaussian guess of R'(D), used to place one fit
    near each target D."""
    theta = reverse_water_filling(variances, D).water_level
    return 1.0 / (2.0 * theta)


def gaussian_start(x: Tensor, lam: float, components: int, generator: torch.Generator) -> MixtureReproduction:
    """Gaussian components whose mixture has the water-filled covariance of x at slope ``lam``.

    One component is the reverse water-filling answer N(mean, U diag((s - theta)_+) U^T) with
    theta = 1/(2 lam) (the exact optimum for Gaussian data). With K > 1 the means are spread to
    mean + (x_k - mean) / sqrt 2 at random samples x_k and each covariance keeps half the spread,
    so the mixture's covariance stays that of the data before water-filling.
    """
    xd = x.double()
    mean = xd.mean(0)
    cov = torch.atleast_2d(torch.cov(xd.T))
    s, u = torch.linalg.eigh(cov)
    theta = 1.0 / (2.0 * lam)
    if components == 1:
        factor = u * (s - theta).clamp_min(0.0).sqrt()[None]
        return MixtureReproduction(mean[None], factor[None])
    pick = torch.randperm(len(xd), generator=generator)[:components]
    means = mean + (xd[pick] - mean) / math.sqrt(2.0)
    factor = u * (s / 2.0 - theta).clamp_min(0.0).sqrt()[None]
    return MixtureReproduction(means, factor.expand(components, -1, -1).clone())


def fit_reproduction(x: Tensor, lam: float, config: FitConfig = FitConfig()) -> MixtureReproduction:
    """Fit m at slope ``lam`` on training samples x (n, d) by Adam on ``mean(-log u_m(x))``.

    Example:
        >>> x = torch.randn(4096, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> m = fit_reproduction(x, lam=1.0, config=FitConfig(steps=0))  # the water-filled Gaussian
        >>> [round(float(v), 1) for v in torch.linalg.eigvalsh(m.covariances()[0].detach())]  # (1 - 1/2)_+
        [0.5, 0.5]
    """
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be finite and > 0, got {lam!r}")
    g = torch.Generator().manual_seed(config.seed)
    xd = x.double()
    if config.family == "particles":
        pick = torch.randperm(len(xd), generator=g)[: config.components]
        model = MixtureReproduction(xd[pick], None, learn_weights=False)
    else:
        model = gaussian_start(xd, lam, 1 if config.family == "gaussian" else config.components, g)
    if config.steps == 0 or config.family == "gaussian":
        return model
    scale = float(xd.std(0).mean())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr * scale)
    for _ in range(config.steps):
        idx = torch.randint(len(xd), (min(config.batch_size, len(xd)),), generator=g)
        loss = model.channel(xd[idx], lam).neg_log_u.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the reproduction fit diverged at lam = {lam} (loss {float(loss)})")
    return model


def upper_point(model: MixtureReproduction, x: Tensor, lam: float, method: str) -> UpperPoint:
    """The channel's (distortion, rate) on held-out samples x, with standard errors of the means."""
    with torch.no_grad():
        terms = model.channel(x, lam)
        rate = terms.rate_at(lam)
    n = len(x)
    return UpperPoint(
        lam=float(lam),
        distortion=float(terms.distortion.mean()),
        distortion_se=float(terms.distortion.std() / math.sqrt(n)),
        rate=float(rate.mean()),
        rate_se=float(rate.std() / math.sqrt(n)),
        method=method,
        n=n,
    )
