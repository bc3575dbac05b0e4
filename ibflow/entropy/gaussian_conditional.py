"""A conditional Gaussian entropy model under a shared dither: bin masses for training and per-symbol coding tables.

A context model (a hyperprior, Ballé et al. 2018; a checkerboard or channel context, He et al. 2021,
Minnen & Singh 2020) predicts a mean and a scale for every latent element; the element is then coded
under the Gaussian's mass on its quantization bin. Under universal quantization (Ziv 1985) the symbol is
k = round(y - d) with a dither d known to both ends, and its bin is [k + d - 1/2, k + d + 1/2]: the
table of k given d is the Gaussian's mass on the unit bins centred on low + d, ..., high + d. In
training y~ = y + u (u ~ U(-1/2, 1/2)) takes the place of k + d, and the mass of the unit bin centred on
y~ is the expected code length's integrand (Ballé et al. 2018, eq. 5 with the dither of Agustsson &
Theis 2020).

Example:
    >>> mean, scale = torch.zeros(3), torch.ones(3)
    >>> tables = gaussian_tables(mean, scale, torch.zeros(3), -2, 2)
    >>> tables.shape, bool(np.allclose(tables.sum(1), 1))
    ((3, 5), True)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["SCALE_BOUND", "LIKELIHOOD_FLOOR", "bounded_scale", "gaussian_bin_mass", "gaussian_tables"]

SCALE_BOUND = 0.11
"""Smallest scale the model predicts, in bin widths (CompressAI's ``GaussianConditional`` lower bound):
below it a unit bin holds all the mass whatever the mean, and the gradient of the scale vanishes."""
LIKELIHOOD_FLOOR = 1e-9
"""Smallest mass of a bin, in training (as FactorizedPrior's: log-likelihoods stay finite) and in the coding
tables alike, so that both price an outlier the same (about 30 bits; the coder's 2^-24 floor may charge less)."""


def bounded_scale(log_scale: Tensor) -> Tensor:
    """exp(log_scale) bounded below by :data:`SCALE_BOUND` (a smooth bound would let the gradient push
    scales into the region where it vanishes)."""
    return log_scale.exp().clamp_min(SCALE_BOUND)


def _bin_mass(centre: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """Mass of N(mean, scale^2) on [centre - 1/2, centre + 1/2], computed in the tail where it does not
    cancel: with v = |centre - mean|, the mass is Phi((1/2 - v) / s) - Phi((-1/2 - v) / s)."""
    v = (centre - mean).abs()
    return torch.special.ndtr((0.5 - v) / scale) - torch.special.ndtr((-0.5 - v) / scale)


def gaussian_bin_mass(y_tilde: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
    """The training likelihood of y~ (any shape, broadcast with ``mean`` and ``scale``): the mass of the
    unit bin centred on y~, floored at 1e-9. Its negative log is the code length of the dithered symbol
    in expectation over the dither (see the module docstring).

    Example:
        >>> float(gaussian_bin_mass(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0)))  # doctest: +ELLIPSIS
        0.382924...
    """
    return _bin_mass(y_tilde, mean, scale).clamp_min(LIKELIHOOD_FLOOR)


@torch.no_grad()
def gaussian_tables(mean: Tensor, scale: Tensor, offset: Tensor, low: int, high: int) -> np.ndarray:
    """Coding tables of n symbols k = round(y - d) in [low, high]: row i holds the masses of the unit bins
    centred on low + d_i, ..., high + d_i under N(mean_i, scale_i^2), the tails below and above folded
    into the end symbols, floored at :data:`LIKELIHOOD_FLOOR` and renormalised; float64 (n, high - low + 1). ``mean``,
    ``scale`` and ``offset`` (the dither d) are 1-D of length n. Both ends of a bitstream must compute
    the same ``mean`` and ``scale`` to the bit: the tables are built in float64 from them alone."""
    if not (mean.shape == scale.shape == offset.shape and mean.dim() == 1):
        raise ValueError(f"mean, scale and offset must be 1-D of one length, got {tuple(mean.shape)}, "
                         f"{tuple(scale.shape)} and {tuple(offset.shape)}")
    if high < low:
        raise ValueError(f"need low <= high, got [{low}, {high}]")
    m, s, d = (t.detach().double().cpu().unsqueeze(1) for t in (mean, scale, offset))
    symbols = torch.arange(low, high + 1, dtype=torch.float64).unsqueeze(0)
    mass = _bin_mass(symbols + d, m, s)
    mass[:, 0] += torch.special.ndtr((low + d[:, 0] - 0.5 - m[:, 0]) / s[:, 0])  # the tails
    mass[:, -1] += torch.special.ndtr((m[:, 0] - high - d[:, 0] - 0.5) / s[:, 0])
    mass = mass.clamp_min(LIKELIHOOD_FLOOR)
    return (mass / mass.sum(1, keepdim=True)).numpy()
