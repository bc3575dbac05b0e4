"""Codecs written against the codec contract alone, for the audit tests (tests/analysis/test_codec_audit.py).

- :class:`FittedRounding`: rounding at a step chosen by ``fit(x, beta)`` (no parameters), coded as raw
  int16s; records what it was given.
- :func:`rounding_for_beta`: a factory named with ``beta`` (a codec "trained elsewhere" for each beta).
- :class:`CheatingCodec`: claims too few bytes (it hides x_hat in the object): the audit must flag it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["FittedRounding", "rounding_for_beta", "CheatingCodec", "CALLS"]

CALLS: list[tuple[str, Any]] = []
"""What the parts were asked to do, in order (the tests run the study in-process, --jobs 1)."""


class FittedRounding(nn.Module):
    """x_hat = step * round(x / step), the indices stored as raw int16 (2 bytes per element)."""

    def __init__(self, dim: int, step: float = 1.0) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("step", torch.tensor(float(step)))

    def fit(self, x: Tensor, beta: float) -> None:
        CALLS.append(("fit", (tuple(x.shape), beta)))
        # D = step^2 / 12 per dim at high rate, so D + beta R is stationary at step^2 = 6 beta (R in nats)
        self.step.fill_(math.sqrt(6 * beta))

    def forward(self, x: Tensor) -> dict[str, Any]:
        return {"x_hat": self.step * torch.round(x / self.step)}

    def compress(self, x: Tensor) -> dict[str, Any]:
        k = torch.round(x / self.step).to(torch.int16).numpy()
        return {"strings": [k.tobytes()], "shape": tuple(x.shape)}

    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        k = np.frombuffer(strings[0], dtype=np.int16).reshape(tuple(shape))
        return {"x_hat": self.step * torch.from_numpy(k.astype(np.float32))}


def rounding_for_beta(dim: int, beta: float) -> FittedRounding:
    """The rounding codec at the step a user chose for ``beta`` elsewhere."""
    CALLS.append(("factory", beta))
    return FittedRounding(dim, step=math.sqrt(6 * beta))


class CheatingCodec(FittedRounding):
    """Decodes perfectly from a 1-byte stream: the reconstruction travels outside the bitstream."""

    def compress(self, x: Tensor) -> dict[str, Any]:
        self._hidden = self(x)["x_hat"]
        return {"strings": [b"\x00"], "shape": tuple(x.shape)}

    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        return {"x_hat": self._hidden}
