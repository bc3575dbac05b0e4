"""Distortion measures per sample (summed over dimensions); squared error now, others plug in here."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

__all__ = ["squared_error", "DISTORTIONS", "get_distortion"]

Distortion = Callable[[Tensor, Tensor], Tensor]


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """||x - x_hat||^2 per sample, summed over every non-batch dimension; shape (n,)."""
    return (x - x_hat).pow(2).reshape(len(x), -1).sum(-1)


DISTORTIONS: dict[str, Distortion] = {"mse": squared_error}


def get_distortion(name: str) -> Distortion:
    """The distortion called ``name`` (one of :data:`DISTORTIONS`)."""
    if name not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {sorted(DISTORTIONS)}, got {name!r}")
    return DISTORTIONS[name]
