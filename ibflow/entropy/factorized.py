"""Ballé et al.'s factorized entropy model, and ANS coding of integer symbols under its bin masses."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ibflow.entropy.bitstream import ans_decoder, check_drained

__all__ = [
    "FactorizedPrior",
    "encode_channels",
    "decode_channels",
    "fit_factorized_prior",
    "fit_to_dithered",
    "channel_code_length",
    "symbol_range",
]

LIKELIHOOD_FLOOR = 1e-9


def _channels_first(y: Tensor, channels: int) -> tuple[Tensor, tuple[int, ...]]:
    """(N, C) or (N, C, H, W) -> (C, 1, N*H*W), and the permuted shape to undo it."""
    if y.dim() < 2 or y.shape[1] != channels:
        raise ValueError(f"expected latents of shape (N, {channels}) or (N, {channels}, H, W), got {tuple(y.shape)}")
    moved = y.movedim(1, 0)
    return moved.reshape(channels, 1, -1), tuple(moved.shape)


class FactorizedPrior(nn.Module):
    r"""Creates the factorized ("fully factorized") density of Ballé et al. 2018 (ICLR), appendix 6.1.

    Per channel, a learned cumulative :math:`c(y) = f_K \circ \dots \circ f_1(y)` with
    :math:`f_k(x) = g_k(H^{(k)} x + b^{(k)})`, :math:`g_k(x) = x + a^{(k)} \odot \tanh(x)` for
    :math:`k < K` and :math:`g_K` the logistic sigmoid; :math:`H^{(k)} = \operatorname{softplus}(\hat H^{(k)})`
    and :math:`a^{(k)} = \tanh(\hat a^{(k)})` keep :math:`c` monotone (eqs. 6.1-6.4). The likelihood
    of a unit bin is :math:`c(y + 1/2) - c(y - 1/2)`, computed on the side of the sigmoid where it
    does not cancel.

    Arguments:
        channels: The number of channels, at least 1 (dimension 1 of the latents).
        filters: Hidden widths of the per-channel network (the paper's (3, 3, 3)).
        init_scale: Initial scale of the density (the paper's 10).

    Example:
        >>> prior = FactorizedPrior(4)
        >>> y = torch.randn(8, 4).round()
        >>> prior.likelihood(y).shape
        torch.Size([8, 4])
    """

    def __init__(self, channels: int, filters: Sequence[int] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be an integer >= 1, got {channels!r}")
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[k + 1], dims[k]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[k + 1], 1) - 0.5))
            if k < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[k + 1], 1)))

    def logits_cumulative(self, x: Tensor, channels: slice = slice(None)) -> Tensor:
        """The logit of c(x) for x of shape (C, 1, n), or of the channels ``channels`` only."""
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix[channels]), x) + bias[channels]
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k][channels]) * torch.tanh(x)
        return x

    def _bin_mass(self, y: Tensor, channels: slice = slice(None)) -> Tensor:
        lower = self.logits_cumulative(y - 0.5, channels)
        upper = self.logits_cumulative(y + 0.5, channels)
        # c(upper) - c(lower) = c(-lower) - c(-upper) for the sigmoid: take the side where both are small
        sign = -torch.sign(lower + upper).detach()
        return (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()

    def likelihood(self, y: Tensor) -> Tensor:
        """Probability mass of the unit bin [y - 1/2, y + 1/2] per element, same shape as ``y``
        ((N, C) or (N, C, H, W)), floored at 1e-9 so that log-likelihoods stay finite in training."""
        flat, shape = _channels_first(y, self.channels)
        mass = self._bin_mass(flat).clamp_min(LIKELIHOOD_FLOOR)
        return mass.reshape(shape).movedim(0, 1)

    @torch.no_grad()
    def pmf_table(self, low: int, high: int, offset: Tensor | None = None, channels: slice = slice(None)) -> np.ndarray:
        """Per channel, the probabilities of the integers low..high, with the mass below low - 1/2 and
        above high + 1/2 folded into the end symbols so each row sums to 1; float64, shape (C, high - low + 1).

        With ``offset`` of shape (C, n) (a dither d, for the channels ``channels``): one row per element,
        the masses of the unit bins centred on low + d .. high + d, i.e. P(k | d) of k = round(y - d)
        (universal quantization, Ziv 1985); shape (C, n, high - low + 1)."""
        device = self.biases[0].device
        edges = torch.arange(low, high + 2, dtype=torch.float32, device=device).view(1, 1, -1) - 0.5
        d = torch.zeros(1, 1, 1, device=device) if offset is None else offset.to(device, torch.float32).unsqueeze(-1)
        edges = edges + d  # (C or 1, n, R + 1): the bin edges, each evaluated once
        count = len(range(self.channels)[channels])
        edges = edges.expand(count, *edges.shape[1:]) if edges.shape[0] == 1 else edges
        logits = self.logits_cumulative(edges.reshape(count, 1, -1), channels).view(edges.shape).double()
        lower, upper = logits[..., :-1], logits[..., 1:]
        sign = -torch.sign(lower + upper)  # as in _bin_mass: the side of the sigmoid where both are small
        mass = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        mass[..., 0] += torch.sigmoid(logits[..., 0])  # the tails
        mass[..., -1] += torch.sigmoid(-logits[..., -1])
        mass = mass.clamp_min(0).cpu()
        table = (mass / mass.sum(-1, keepdim=True)).numpy()
        return table[:, 0] if offset is None else table


def _channel_table(prior: FactorizedPrior, low: int, high: int, offset: Tensor | None, row: int, c: int) -> np.ndarray:
    """The table of symbol row ``row``, coded by channel c: (R,) without a dither, (n, R) with the dither
    ``offset[row]`` (see :meth:`FactorizedPrior.pmf_table`)."""
    if offset is None:
        return prior.pmf_table(low, high, channels=slice(c, c + 1))[0]
    return np.ascontiguousarray(prior.pmf_table(low, high, offset[row : row + 1], slice(c, c + 1))[0])


def _rows(prior: FactorizedPrior, count: int, index: Sequence[int] | None) -> list[int]:
    """The prior channel that codes each of ``count`` symbol rows: ``index`` or 0, 1, ..."""
    rows = list(range(prior.channels)) if index is None else [int(c) for c in index]
    if len(rows) != count or any(not 0 <= c < prior.channels for c in rows):
        raise ValueError(f"index must name {count} channels of the prior (0..{prior.channels - 1}), got {rows}")
    return rows


def symbol_range(k: Tensor) -> tuple[int, int]:
    """[low, high] of the symbols as the header stores it: at least two symbols wide (constriction's
    Categorical needs two), (0, 1) when there are no symbols. Symbols outside the header's int16 range
    raise ValueError here, before any table is built for them."""
    if k.numel() == 0:
        return 0, 1
    low, high = int(k.min()), int(k.max())
    if low < -(2**15) or high >= 2**15:
        raise ValueError(f"symbols out of the int16 header range: [{low}, {high}]")
    return low, max(high, low + 1)


def encode_channels(
    prior: FactorizedPrior, k: Tensor, offset: Tensor | None = None, index: Sequence[int] | None = None
) -> tuple[np.ndarray, int, int]:
    """ANS-encode integer symbols k of shape (R, n) under the prior's bin masses: row r with prior channel
    ``index[r]`` (default: row c is channel c, R = C), a constriction ``Categorical(pmf, perfect=False)``
    over the symbol range [low, high] of ``k`` (which the decoder must be told, e.g. in a header). With a
    shared dither ``offset`` (R, n), element i of row r is coded under its own table P(k | d) (see
    :meth:`FactorizedPrior.pmf_table`); the decoder must know the same dither. Returns (words, low, high)."""
    import constriction

    rows = _rows(prior, k.shape[0], index)
    low, high = symbol_range(k)
    coder = constriction.stream.stack.AnsCoder()
    flat = (k - low).cpu().numpy().astype(np.int32)
    for r in reversed(range(len(rows))):  # a stack: encode backwards, decode forwards
        table = _channel_table(prior, low, high, offset, r, rows[r])
        if offset is None:
            coder.encode_reverse(flat[r], constriction.stream.model.Categorical(table, perfect=False))
        else:
            coder.encode_reverse(flat[r], constriction.stream.model.Categorical(perfect=False), table)
    return coder.get_compressed(), low, high


def channel_code_length(
    prior: FactorizedPrior, k: Tensor, offset: Tensor | None = None, index: Sequence[int] | None = None
) -> float:
    """-sum log P(k) in nats under exactly the tables :func:`encode_channels` codes with (symbol range of
    ``k``, tails folded in, the dither ``offset`` and the channels ``index`` if any): the ideal code
    length the bitstream approaches."""
    rows = _rows(prior, k.shape[0], index)
    low, high = symbol_range(k)
    symbols = (k - low).cpu()
    total = 0.0
    for r, c in enumerate(rows):
        table = torch.from_numpy(_channel_table(prior, low, high, offset, r, c)).reshape(-1, high - low + 1)
        total -= float(table.expand(symbols.shape[1], -1).gather(1, symbols[r].unsqueeze(1)).log().sum())
    return total


def decode_channels(
    prior: FactorizedPrior, words: np.ndarray, low: int, high: int, n: int, offset: Tensor | None = None,
    index: Sequence[int] | None = None,
) -> Tensor:
    """The inverse of :func:`encode_channels`: symbols of shape (R, n), int64 (R = len(index), or C).
    Words the coder refuses, or words left over after the last symbol, raise :class:`contracts.BitstreamError`."""
    import constriction

    rows = _rows(prior, prior.channels if index is None else len(index), index)
    coder = ans_decoder(words)
    out = []
    for r, c in enumerate(rows):
        table = _channel_table(prior, low, high, offset, r, c)
        if offset is None:
            out.append(coder.decode(constriction.stream.model.Categorical(table, perfect=False), n))
        else:
            out.append(coder.decode(constriction.stream.model.Categorical(perfect=False), table))
    check_drained(coder)
    if not out:
        return torch.empty(0, n, dtype=torch.int64)
    return torch.from_numpy(np.stack(out).astype(np.int64) + low)


def fit_factorized_prior(
    prior: FactorizedPrior, latents: Tensor, steps: int = 300, lr: float = 1e-2, batch: int = 1024, seed: int = 0
) -> FactorizedPrior:
    """Fits the prior to latents (N, C) or (N, C, H, W) by maximum likelihood of y + U(-1/2, 1/2)
    (Ballé et al. 2018): the expected code length of round(y) at high rate. Returns the prior."""
    values = latents.detach().movedim(1, -1).reshape(-1, prior.channels)
    fit_to_dithered(prior.parameters(), lambda noisy: -prior.likelihood(noisy).log().mean(), values, steps, lr, batch, seed)
    return prior


def fit_to_dithered(
    parameters: Iterable[nn.Parameter], nats: Callable[[Tensor], Tensor], values: Tensor, steps: int, lr: float,
    batch: int, seed: int = 0,
) -> None:
    """Adam at ``lr`` on ``parameters`` for ``steps`` steps, minimising ``nats(y + u)``, u ~ U(-1/2, 1/2), on
    minibatches y of ``batch`` rows of ``values`` (drawn with replacement on ``seed``): the maximum-likelihood
    fit of an entropy model to dithered latents, for the factorized model and for context models alike."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(parameters, lr=lr)
    for _ in range(steps):
        rows = values[torch.randint(len(values), (min(batch, len(values)),), generator=generator)]
        noisy = rows + (torch.rand(rows.shape, generator=generator) - 0.5).to(rows.device)
        loss = nats(noisy)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
