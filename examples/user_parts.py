"""A researcher's own parts, kept outside ibflow and handed to its command lines as ``module:attribute``.

Nothing here is registered: the contracts (``contracts.interface``) are all a part has to keep.

- :class:`GaussianMI`, an MI estimator: ``estimate(x, y) -> Estimate``::

      python -m estimators --x x.npy --y y.npy --method examples.user_parts:GaussianMI

- :class:`ScalarQuantizer`, a codec in CompressAI's convention (``forward -> {"x_hat",
  "likelihoods"}``, ``compress``, ``decompress``), trained by ibflow's loop and audited against R(D)::

      python -m analysis.rd_gap --source gaussian --codec examples.user_parts:ScalarQuantizer --betas 0.1 0.5

Run them from the repository root (``python -m`` puts it on the import path), or install the
module in the same environment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import constriction
import numpy as np
import torch
from torch import Tensor, nn

from contracts.interface import BitstreamError, Estimate

__all__ = ["GaussianMI", "gaussian_mi", "ScalarQuantizer"]


def gaussian_mi(x: Any, y: Any, ridge: float = 0.0) -> float:
    """The Gaussian plug-in estimate I = 1/2 (log det S_x + log det S_y - log det S) in nats, from the
    sample covariance S of (x, y): exact in expectation for jointly Gaussian data up to an O(d^2 / n)
    bias (Cover & Thomas 2nd ed., eq. 8.56 for the entropies).

    Example:
        >>> rng = np.random.default_rng(0); x = rng.standard_normal((20000, 1))
        >>> est = gaussian_mi(x, x + rng.standard_normal((20000, 1)))  # truth: 1/2 log 2 = 0.347 nats
        >>> abs(est - 0.5 * math.log(2)) < 0.02  # its sd is sqrt(rho^2 / n) = 0.005 here: 4 sd
        True
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    joint = np.cov(np.hstack([x, y]).T) + ridge * np.eye(x.shape[1] + y.shape[1])
    dx = x.shape[1]

    def logdet(a: np.ndarray) -> float:
        return float(np.linalg.slogdet(a)[1])

    return 0.5 * (logdet(joint[:dx, :dx]) + logdet(joint[dx:, dx:]) - logdet(joint))


class GaussianMI:
    """Gaussian plug-in estimate of I(X; Y) from the sample covariance: a user's estimator class,
    built with its options (``--options '{"ridge": 1e-6}'``) and asked for ``estimate(x, y)``."""

    def __init__(self, ridge: float = 0.0) -> None:
        if not (math.isfinite(ridge) and ridge >= 0):
            raise ValueError(f"ridge must be finite and >= 0, got {ridge!r}")
        self.ridge = ridge

    def estimate(self, x: Any, y: Any) -> Estimate:
        return Estimate(gaussian_mi(x, y, self.ridge), None, "gaussian-plug-in", extra={"ridge": self.ridge})


class ScalarQuantizer(nn.Module):
    """An entropy-coded uniform scalar quantizer per dimension, with a learned step and a Gaussian
    model of the symbols: a user's codec in CompressAI's convention.

    y = x / step; training adds uniform noise u ~ U(-1/2, 1/2) in place of rounding (Ballé et al.
    2017, sec. 2), evaluation rounds. The likelihood of a symbol is the mass of its unit bin under
    N(0, (scale / step)^2), and ``compress`` codes the symbols with ANS under exactly that model
    (constriction's ``QuantizedGaussian``), so the real bytes match the model rate to within a few
    bytes per stream. At high rate such a quantizer stays 1/2 log2(pi e / 6) = 0.254 bit above R(D)
    (Gish & Pierce 1968), which the audit shows.

    Arguments:
        dim: dimension of x (given by the source).
        step: initial quantizer step (> 0); ``scale``: initial scale of the symbol model (> 0).
        max_symbol: symbols are coded in [-max_symbol, max_symbol]; ``compress`` refuses others.

    Example:
        >>> codec = ScalarQuantizer(2).eval()
        >>> x = torch.randn(100, 2)
        >>> stream = codec.compress(x)
        >>> torch.equal(codec.decompress(stream["strings"], stream["shape"])["x_hat"], codec(x)["x_hat"])
        True
    """

    def __init__(self, dim: int, step: float = 0.5, scale: float = 1.0, max_symbol: int = 4096) -> None:
        super().__init__()
        for name, value in (("step", step), ("scale", scale)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        self.dim = int(dim)
        self.max_symbol = int(max_symbol)
        self.log_step = nn.Parameter(torch.full((self.dim,), math.log(step)))
        self.log_scale = nn.Parameter(torch.full((self.dim,), math.log(scale)))

    def _symbol_std(self) -> Tensor:
        return torch.exp(self.log_scale - self.log_step)  # the model's std in units of the step

    def forward(self, x: Tensor) -> dict[str, Any]:
        y = x / torch.exp(self.log_step)
        y_t = y + torch.rand_like(y) - 0.5 if self.training else torch.round(y)
        normal = torch.distributions.Normal(0.0, self._symbol_std())
        mass = normal.cdf(y_t + 0.5) - normal.cdf(y_t - 0.5)
        return {"x_hat": y_t * torch.exp(self.log_step), "likelihoods": {"y": mass.clamp_min(1e-9)}}

    def _model(self) -> tuple[Any, np.ndarray]:
        std = self._symbol_std().detach().double().numpy()
        return constriction.stream.model.QuantizedGaussian(-self.max_symbol, self.max_symbol), std

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        k = torch.round(x / torch.exp(self.log_step)).to(torch.int64).numpy()
        if np.abs(k).max(initial=0) > self.max_symbol:
            raise ValueError(f"a symbol exceeds max_symbol = {self.max_symbol}; build the codec with a larger one")
        model, std = self._model()
        coder = constriction.stream.stack.AnsCoder()
        stds = np.broadcast_to(std, k.shape).reshape(-1)
        coder.encode_reverse(k.reshape(-1).astype(np.int32), model, np.zeros_like(stds), stds)
        return {"strings": [coder.get_compressed().astype("<u4").tobytes()], "shape": tuple(k.shape)}

    @torch.no_grad()
    def decompress(self, strings: Sequence[bytes], shape: Sequence[int]) -> dict[str, Tensor]:
        if len(strings) != 1 or len(shape) != 2 or shape[1] != self.dim or len(strings[0]) % 4:
            raise BitstreamError(f"not a ScalarQuantizer stream: {len(strings)} strings, shape {tuple(shape)}")
        model, std = self._model()
        coder = constriction.stream.stack.AnsCoder(np.frombuffer(strings[0], dtype="<u4").astype(np.uint32))
        stds = np.broadcast_to(std, tuple(shape)).reshape(-1)
        k = coder.decode(model, np.zeros_like(stds), stds)
        if not coder.is_empty():
            raise BitstreamError("the ANS coder holds words after the last symbol: not the stream compress wrote")
        y = torch.from_numpy(k.astype(np.float32).reshape(tuple(shape)))
        return {"x_hat": y * torch.exp(self.log_step)}
