r"""An elementwise affine flow whose shift and scale are functions of a context: u = (z - mu(c)) exp(-s(c))."""

from __future__ import annotations

__all__ = ['ConditionalAffine']

import torch
import torch.nn as nn
from torch import Tensor

from ibflow.checks import check_int
from ibflow.flows.base import Flow, check_features


class ConditionalAffine(Flow):
    r"""Creates the conditional affine map :math:`u = (z - \mu(c)) \odot \exp(-s(c))`.

    .. math:: \mu(c) = A c + a + \mathrm{MLP}_\mu(c), \qquad s(c) = B c + b + \mathrm{MLP}_s(c)

    The affine parts make the layer exact for a jointly Gaussian pair with a diagonal conditional
    covariance (the mean of z given c is linear in c, its variance constant), and they can be set in
    closed form (:meth:`set_affine`, e.g. by least squares); the MLP's last layer starts at zero, so
    it adds nothing until trained. The log-determinant is :math:`-\sum_i s_i(c)`. With a context
    alone driving it, this is the one-dimensional conditional flow that
    :class:`ConditionalAffineCoupling` cannot be on its own (it has no kept feature to add).

    Arguments:
        features: The number of features of z, at least 1.
        context_features: The number of context features, at least 1.
        hidden: The width of the MLP's hidden layers, at least 1.
        depth: The number of hidden layers of the MLP, at least 1.

    Example:
        >>> layer = ConditionalAffine(2, context_features=1, hidden=8)
        >>> z, c = torch.randn(16, 2), torch.randn(16, 1)
        >>> u, logdet = layer(z, c)
        >>> torch.equal(u, z), torch.equal(logdet, torch.zeros(16))  # identity at initialisation
        (True, True)
        >>> torch.allclose(layer.inverse(u, c), z)
        True
    """

    def __init__(self, features: int, context_features: int, hidden: int = 32, depth: int = 1):
        super().__init__()
        self.features = check_int("features", features, 1)
        self.context_features = check_int("context_features", context_features, 1)
        hidden = check_int("hidden", hidden, 1)
        depth = check_int("depth", depth, 1)
        self.shift = nn.Linear(context_features, features)
        self.log_scale = nn.Linear(context_features, features)
        for linear in (self.shift, self.log_scale):
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        layers: list[nn.Module] = []
        width = context_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, 2 * features)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.mlp = nn.Sequential(*layers, last)

    def _shift_and_log_scale(self, z: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        check_features(z, self.features, images=False)
        if context is None:
            raise ValueError("ConditionalAffine needs a context tensor, got None")
        if context.shape != (z.shape[0], self.context_features):
            raise ValueError(
                f"expected context of shape ({z.shape[0]}, {self.context_features}), got {tuple(context.shape)}"
            )
        extra_shift, extra_log_scale = self.mlp(context).chunk(2, dim=1)
        return self.shift(context) + extra_shift, self.log_scale(context) + extra_log_scale

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._shift_and_log_scale(z, context)
        return (z - shift) * (-log_scale).exp(), -log_scale.sum(dim=1)

    def inverse(self, u: Tensor, context: Tensor | None = None) -> Tensor:
        shift, log_scale = self._shift_and_log_scale(u, context)
        return u * log_scale.exp() + shift

    @torch.no_grad()
    def set_affine(self, shift_weight: Tensor, shift_bias: Tensor, log_scale_bias: Tensor) -> None:
        r"""Set :math:`A`, :math:`a` and :math:`b` (and :math:`B = 0`): with the MLP still at zero, z given c
        is then mapped as if it were :math:`N(A c + a, \mathrm{diag}(e^{2b}))`.

        Arguments:
            shift_weight: :math:`A`, shape ``(features, context_features)``.
            shift_bias: :math:`a`, shape ``(features,)``.
            log_scale_bias: :math:`b`, shape ``(features,)``.
        """
        self.shift.weight.copy_(shift_weight)
        self.shift.bias.copy_(shift_bias)
        self.log_scale.weight.zero_()
        self.log_scale.bias.copy_(log_scale_bias)
