"""Critics T(x, y) for variational bounds: small MLPs, separable or on the concatenation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["mlp", "SeparableCritic", "ConcatCritic", "make_critic"]


def mlp(in_features: int, out_features: int, hidden: int = 256, layers: int = 2) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden`` (2 x 256 as in Poole et al. 2019; REFERENCES.md)."""
    mods: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out_features))
    return nn.Sequential(*mods)


class SeparableCritic(nn.Module):
    """T(x, y) = g(x)^T h(y) with MLP embeddings g, h (Poole et al. 2019, 32-d embedding)."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 256, layers: int = 2, embed: int = 32) -> None:
        super().__init__()
        self.g = mlp(dim_x, embed, hidden, layers)
        self.h = mlp(dim_y, embed, hidden, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Score matrix ``scores[i, j] = T(x_i, y_j)``, shape (n, m)."""
        return self.g(x) @ self.h(y).T


class ConcatCritic(nn.Module):
    """T(x, y) = f([x, y]) with an MLP f on the concatenation (Poole et al. 2019)."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.f = mlp(dim_x + dim_y, 1, hidden, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Score matrix ``scores[i, j] = T(x_i, y_j)``, shape (n, m); costs n m evaluations."""
        n, m = x.shape[0], y.shape[0]
        pairs = torch.cat([x[:, None, :].expand(n, m, -1), y[None, :, :].expand(n, m, -1)], dim=-1)
        return self.f(pairs).squeeze(-1)


def make_critic(kind: str, dim_x: int, dim_y: int, hidden: int = 256, layers: int = 2, embed: int = 32) -> nn.Module:
    """Build a critic by name: ``"separable"`` or ``"concat"``."""
    if kind == "separable":
        return SeparableCritic(dim_x, dim_y, hidden, layers, embed)
    if kind == "concat":
        return ConcatCritic(dim_x, dim_y, hidden, layers)
    raise ValueError(f"critic must be 'separable' or 'concat', got {kind!r}")
