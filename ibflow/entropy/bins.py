"""Binning a standard-normal latent and coding the bins into a real bitstream with constriction (ANS)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ibflow.entropy.bitstream import ans_decoder, check_drained

__all__ = ["StandardNormalBins"]


class StandardNormalBins:
    """Bins of width ``delta_j`` (one per latent dimension, or one for all) centred on k * delta_j,
    with probabilities under N(0, 1): P(k) = Phi((k + 1/2) delta) - Phi((k - 1/2) delta) (the
    "simulated practical encoding" of Balle et al. 2017, here in the base space of a flow prior, where
    the prior is exactly N(0, I)).

    Indices are clipped to [-K, K] with K covering +-9 standard deviations in every dimension (mass
    outside: 2e-19); clipping never happens in practice, and :func:`ibflow.vector.rates.measure_binned`
    counts it if it does.
    """

    def __init__(self, delta: float | Sequence[float] | Tensor):
        d = torch.as_tensor(delta, dtype=torch.float64).reshape(-1)
        if d.numel() == 0 or not bool(torch.all(torch.isfinite(d) & (d > 0))):
            raise ValueError(f"delta must be finite and > 0 (one value or one per dimension), got {delta}")
        self.delta = d if d.numel() > 1 else d[0]

    @property
    def max_index(self) -> int:
        return max(1, math.ceil(9.0 / float(torch.min(torch.as_tensor(self.delta)))))

    def index(self, u: Tensor) -> Tensor:
        """Nearest bin index, clipped to [-K, K] (int64)."""
        k = torch.round(u.to(torch.float64) / self.delta).to(torch.int64)
        return k.clamp(-self.max_index, self.max_index)

    def center(self, k: Tensor) -> Tensor:
        return k.to(torch.float64) * self.delta

    def log_pmf(self, k: Tensor) -> Tensor:
        """log P(k) in nats, elementwise, in float64 without cancellation in the tails."""
        k = k.to(torch.float64)
        a, b = (k - 0.5) * self.delta, (k + 0.5) * self.delta
        # Phi(b) - Phi(a) = Phi(-a) - Phi(-b): use the side where both are small (left tail)
        flip = a > 0
        a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
        log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
        return log_b + torch.log1p(-torch.exp(log_a - log_b))

    def _stds(self, shape: tuple[int, ...]) -> np.ndarray:
        """Per-symbol std of the index k ~ N(0, 1 / delta^2), flattened row-major like the symbols."""
        return np.ascontiguousarray(torch.broadcast_to(1.0 / self.delta, shape).reshape(-1).numpy())

    def _family(self):
        import constriction

        return constriction.stream.model.QuantizedGaussian(-self.max_index, self.max_index)

    def encode(self, k: Tensor) -> np.ndarray:
        """ANS-encode the indices, shape (n, d) or (n,), into 32-bit words."""
        import constriction

        shape = tuple(k.shape)
        coder = constriction.stream.stack.AnsCoder()
        symbols = k.reshape(-1).cpu().numpy().astype(np.int32)
        coder.encode_reverse(symbols, self._family(), np.zeros(symbols.size), self._stds(shape))
        return coder.get_compressed()

    def decode(self, words: np.ndarray, shape: tuple[int, ...]) -> Tensor:
        """Decode the indices written by :meth:`encode` (``shape`` as encoded); words the coder refuses,
        or words left over after the last index, raise :class:`contracts.BitstreamError`."""
        coder = ans_decoder(words)
        stds = self._stds(shape)
        k = coder.decode(self._family(), np.zeros(stds.size), stds)
        check_drained(coder)
        return torch.from_numpy(np.asarray(k, dtype=np.int64)).reshape(shape)
