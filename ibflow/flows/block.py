r"""A block-diagonal flow: separate flows on consecutive groups of features, y = [f_1(x_1), ..., f_k(x_k)]."""

from __future__ import annotations

__all__ = ['BlockDiagonal']

from collections.abc import Iterator, Sequence
from typing import cast

import torch
import torch.nn as nn
from torch import Tensor

from ibflow.checks import check_int
from ibflow.flows.base import Flow, check_features


class BlockDiagonal(Flow):
    r"""Creates the block-diagonal flow :math:`y = [f_1(x_1), \dots, f_k(x_k)]`, the input cut into
    consecutive groups of ``sizes[0], ..., sizes[k-1]`` features.

    Output block i depends on input block i alone, so the Jacobian is block diagonal and
    :math:`\log |\det \partial y / \partial x| = \sum_i \log |\det \partial f_i / \partial x_i|`;
    :meth:`inverse` inverts each block on its own. This is how separate encoders are written as one
    flow: the two-terminal FlowCodec's f(x) = [f_1(x_1), f_2(x_2)]
    (:class:`ibflow.vector.TwoTerminalFlowCodec`), where encoder 2 must never see x_1. The
    ``context`` goes to every block; blocks that are not conditional ignore it.

    Arguments:
        flows: The blocks, each a :class:`Flow` on ``sizes[i]`` features.
        sizes: The number of features of each block, each at least 1.

    Example:
        >>> import torch
        >>> from ibflow.flows import ActNorm, build_vector_flow
        >>> flow = BlockDiagonal([build_vector_flow(2, depth=1, hidden=8), ActNorm(1)], sizes=[2, 1])
        >>> x = torch.randn(32, 3)
        >>> y, logdet = flow(x)  # training mode: the ActNorms initialise on this batch
        >>> torch.allclose(flow.inverse(y), x, atol=1e-5), logdet.shape
        (True, torch.Size([32]))
        >>> torch.equal(flow(torch.cat([torch.zeros(32, 2), x[:, 2:]], 1))[0][:, 2:], y[:, 2:])  # block 2 sees x_2 only
        True
    """

    def __init__(self, flows: Sequence[Flow], sizes: Sequence[int]):
        super().__init__()
        flows, sizes = list(flows), list(sizes)
        for index, flow in enumerate(flows):
            if not isinstance(flow, Flow):
                raise TypeError(f"flows[{index}] must be a Flow, got {type(flow).__name__}")
        if not flows or len(sizes) != len(flows):
            raise ValueError(f"sizes must give one size per flow ({len(flows)} flows, at least 1), got {len(sizes)} sizes")
        self.sizes = [check_int(f"sizes[{index}]", size, 1) for index, size in enumerate(sizes)]
        self.features = sum(self.sizes)
        self.flows = nn.ModuleList(flows)

    def __len__(self) -> int:
        return len(self.flows)

    @property
    def blocks(self) -> list[Flow]:
        """The block flows, in order (typed: a ``ModuleList`` only knows it holds modules)."""
        return cast(list[Flow], list(self.flows))

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.blocks)

    def __getitem__(self, index: int) -> Flow:
        return self.blocks[index]

    def split(self, x: Tensor) -> tuple[Tensor, ...]:
        """The blocks x_1, ..., x_k of ``x`` (batch, features), as views."""
        check_features(x, self.features, images=False)
        return torch.split(x, self.sizes, dim=1)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        outputs, logdet = [], x.new_zeros(x.shape[0])
        for flow, block in zip(self.blocks, self.split(x)):
            y, block_logdet = flow(block, context)
            outputs.append(y)
            logdet = logdet + block_logdet
        return torch.cat(outputs, dim=1), logdet

    def inverse(self, y: Tensor, context: Tensor | None = None) -> Tensor:
        return torch.cat([flow.inverse(block, context) for flow, block in zip(self.blocks, self.split(y))], dim=1)
