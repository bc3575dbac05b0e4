r"""The flow interface: invertible layers with log-determinants, and their composition."""

from __future__ import annotations

__all__ = ['Flow', 'FlowSequential', 'check_features', 'standard_normal_log_prob']

import math
from collections.abc import Iterator

import torch.nn as nn
from torch import Tensor


def check_features(x: Tensor, features: int, images: bool) -> None:
    if x.dim() == 2 or (images and x.dim() > 2):
        if x.shape[1] == features:
            return
    expected = f"(batch, {features}" + (", ...)" if images else ")")
    raise ValueError(f"expected input of shape {expected}, got {tuple(x.shape)}")


class Flow(nn.Module):
    r"""Base class of invertible layers :math:`y = f(x; c)` with a tractable Jacobian.

    Subclasses implement :meth:`forward`, returning the output together with
    :math:`\log |\det \partial y / \partial x|` per sample, and :meth:`inverse`. Every layer
    accepts an optional ``context`` tensor :math:`c` of shape ``(batch, context_features)``;
    layers that are not conditional ignore it.
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""
        Arguments:
            x: The input, with shape ``(batch, features)`` (or ``(batch, C, H, W)`` for layers
                that support images).
            context: The context, with shape ``(batch, context_features)``, or ``None``.

        Returns:
            The output :math:`y`, same shape as ``x``, and :math:`\log |\det \partial y / \partial
            x|` per sample, with shape ``(batch,)``.
        """

        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        r"""
        Arguments:
            y: The output of :meth:`forward`.
            context: The context that was passed to :meth:`forward`, or ``None``.

        Returns:
            The input :math:`x = f^{-1}(y; c)`.
        """

        raise NotImplementedError


class FlowSequential(Flow):
    r"""Creates the composition of flows, applied in the given order.

    The log-determinants add up; :meth:`inverse` applies the inverses in reverse order. The
    ``context`` is passed to every layer; layers that are not conditional ignore it.

    Arguments:
        flows: The layers, each a :class:`Flow`.

    Example:
        >>> import torch
        >>> from ibflow.flows import ActNorm, AffineCoupling, LULinear
        >>> flow = FlowSequential(ActNorm(2), LULinear(2), AffineCoupling(2, hidden=8))
        >>> x = torch.randn(32, 2)
        >>> z, logdet = flow(x)
        >>> torch.allclose(flow.inverse(z), x, atol=1e-5)
        True
    """

    def __init__(self, *flows: Flow):
        super().__init__()
        for index, flow in enumerate(flows):
            if not isinstance(flow, Flow):
                raise TypeError(f"flows[{index}] must be a Flow, got {type(flow).__name__}")
        self.flows = nn.ModuleList(flows)

    def __len__(self) -> int:
        return len(self.flows)

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)

    def __getitem__(self, index: int) -> Flow:
        return self.flows[index]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for flow in self.flows:
            x, flow_logdet = flow(x, context)
            logdet = logdet + flow_logdet
        return x, logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        for flow in reversed(self.flows):
            y = flow.inverse(y, context)
        return y


def standard_normal_log_prob(u: Tensor) -> Tensor:
    r"""log N(u; 0, I) per sample, summed over every non-batch dimension (nats)."""
    return -0.5 * (u.flatten(1) ** 2).sum(1) - 0.5 * u[0].numel() * math.log(2 * math.pi)
