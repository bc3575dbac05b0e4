"""ContextEntropyModel: a channel-group and checkerboard context model for the latent types a bitstream codes.

A factorized entropy model codes every latent type alone, so it cannot price what a flow prior knows: the
coded types of one image move together (a textured region is busy in every type) and neighbouring
positions of one type are alike. This model codes the types in groups and each group in two halves of a
checkerboard, every half conditioned on all that was decoded before it:

- the coded types, strongest first, are cut into uneven channel groups of 1/16, 1/16, 1/8, 1/4 and 1/2
  of them (ELIC's uneven grouping: He, Yang, Peng, Ma, Qin & Wang, CVPR 2022, sec. 3.2);
- within a group, the anchor positions ((i + j) even) come first and the others after them (the
  checkerboard context of He, Zheng, Sun, Wang & Qin, CVPR 2021, sec. 3);
- every half after the first is coded under a Gaussian whose mean and scale a small CNN predicts from
  everything decoded before it (the values, and a mask that says which they are); the very first half
  has no context and is coded under the codec's factorized model.

So 2 x (number of groups) - 1 passes of the CNN (at most nine) decode an image, however large. The encoder runs the same
passes one by one on the same masked inputs, so both ends compute the same tables to the bit (the
decoder must run on the same kind of device and library as the encoder, as with any learned context
model). Under the shared dither, a decoded value is k + d, and in training y~ = y + u stands in for it
(see :mod:`ibflow.entropy.gaussian_conditional`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from ibflow.entropy.categorical import PRECISION, quantized_pmf_rows
from ibflow.entropy.gaussian_conditional import SCALE_BOUND, bounded_scale, gaussian_bin_mass, gaussian_tables

__all__ = ["ContextEntropyModel", "GROUP_FRACTIONS", "channel_groups", "checkerboard"]

GROUP_FRACTIONS: tuple[float, ...] = (1 / 16, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
"""Shares of the coded types in each channel group, strongest types first (ELIC's 16/16/32/64/192 of 320)."""

FirstTables = Callable[[int, Tensor, int, int], np.ndarray]
"""(type, dither (n,), low, high) -> coding tables (n, high - low + 1) of the first pass's symbols."""


def checkerboard(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """The anchor positions of a (height, width) grid, (i + j) even, as a bool tensor.

    Example:
        >>> checkerboard(2, 3).int().tolist()
        [[1, 0, 1], [0, 1, 0]]
    """
    i = torch.arange(height, device=device).view(-1, 1)
    j = torch.arange(width, device=device).view(1, -1)
    return (i + j) % 2 == 0


def channel_groups(order: list[int], fractions: tuple[float, ...] = GROUP_FRACTIONS) -> list[list[int]]:
    """``order`` (the coded types, strongest first) cut into consecutive groups of about ``fractions`` of
    it, every group at least one type, none empty.

    Example:
        >>> channel_groups(list(range(32)))
        [[0, 1], [2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]]
        >>> channel_groups([7, 3])
        [[7], [3]]
    """
    groups, start, share = [], 0, 0.0
    for fraction in fractions:
        share += fraction
        end = max(start + 1, round(share * len(order)))
        if start < len(order):
            groups.append(order[start:end])
        start = end
    if start < len(order):
        groups[-1].extend(order[start:])
    return groups


class ContextEntropyModel(nn.Module):
    """Channel-group and checkerboard context model over ``types`` latent types (see the module docstring).

    The CNN takes 2 ``types`` channels (the decoded values in step units, zero where not decoded, and the
    mask of which are decoded) and returns a mean offset and a log-scale offset per type, added to a
    learned mean and log-scale per type; its last layer starts at zero, so an untrained model is a
    Gaussian per type.

    Arguments:
        types: latent types (channels of the symbols, dimension 1).
        hidden: width of the CNN.

    Example:
        >>> model = ContextEntropyModel(4, hidden=8)
        >>> coded = torch.tensor([True, True, False, True])
        >>> [(types.tolist(), parity) for types, parity in model.passes(coded)]
        [([0], 0), ([0], 1), ([1], 0), ([1], 1), ([3], 0), ([3], 1)]
    """

    order: Tensor

    def __init__(self, types: int, hidden: int = 64):
        super().__init__()
        if isinstance(types, bool) or not isinstance(types, int) or types < 1:
            raise ValueError(f"types must be an integer >= 1, got {types!r}")
        self.types = types
        self.register_buffer("order", torch.arange(types))  # coding order of the types, strongest first
        self.base_mean = nn.Parameter(torch.zeros(types))
        self.base_log_scale = nn.Parameter(torch.zeros(types))
        last = nn.Conv2d(hidden, 2 * types, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Conv2d(2 * types, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), last
        )

    @torch.no_grad()
    def set_order(self, strength: Tensor) -> None:
        """Codes the types in decreasing ``strength`` (e.g. each type's rate under a factorized model), so
        that the strong types, which carry most of an image's structure, are the context of the weak ones."""
        if strength.shape != (self.types,):
            raise ValueError(f"strength must have shape ({self.types},), got {tuple(strength.shape)}")
        self.order.copy_(torch.argsort(strength.detach().double().cpu(), descending=True, stable=True).to(self.order))

    @torch.no_grad()
    def initialise(self, y: Tensor) -> None:
        """Sets the per-type Gaussian to the mean and standard deviation of latents ``y`` (N, types, h, w)."""
        self.base_mean.copy_(y.mean(dim=(0, 2, 3)))
        self.base_log_scale.copy_(y.std(dim=(0, 2, 3)).clamp_min(SCALE_BOUND).log())

    def passes(self, coded: Tensor) -> list[tuple[Tensor, int]]:
        """The coding passes for the coded types ``coded`` (bool, types): (types of the group, parity), the
        anchors (parity 0) of each group before its other positions (parity 1)."""
        mask = coded.detach().cpu().bool()
        order = [t for t in self.order.cpu().tolist() if mask[t]]
        return [(torch.tensor(group), parity) for group in channel_groups(order) for parity in (0, 1)]

    def masks(self, coded: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
        """(known, target), bool of shape (passes, types, height, width): what is decoded before each pass,
        and what each pass codes."""
        device = self.order.device
        passes = self.passes(coded)
        anchors = checkerboard(height, width, device)
        known = torch.zeros(len(passes), self.types, height, width, dtype=torch.bool, device=device)
        target = torch.zeros_like(known)
        done = torch.zeros(self.types, height, width, dtype=torch.bool, device=device)
        for j, (types, parity) in enumerate(passes):
            known[j] = done
            where = anchors if parity == 0 else ~anchors
            target[j, types.to(device)] = where
            done = done | target[j]
        return known, target

    def predict(self, values: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, scale), each (N, types, h, w), of every element given the decoded ``values`` (step units)
        where ``known`` (bool, broadcast to ``values``) is true."""
        mask = known.to(values.dtype).expand_as(values)
        out = self.net(torch.cat([values * mask, mask], dim=1))
        mean = self.base_mean.view(1, -1, 1, 1) + out[:, : self.types]
        scale = bounded_scale(self.base_log_scale.view(1, -1, 1, 1) + out[:, self.types :])
        return mean, scale

    def likelihood(self, y_tilde: Tensor, coded: Tensor, first: Callable[[Tensor], Tensor]) -> Tensor:
        """Bin masses (N, types, h, w) of the dithered latents ``y_tilde``: the first pass under ``first``
        (the factorized model's masses), every later pass under its predicted Gaussian, 1 for the types
        that are not coded. All passes' CNN inputs go through the network as one batch in training."""
        n, types, height, width = y_tilde.shape
        known, target = self.masks(coded, height, width)
        out = torch.ones_like(y_tilde)
        if len(target) == 0:
            return out
        out = torch.where(target[0], first(y_tilde), out)
        if len(target) > 1:
            later = known[1:].unsqueeze(1).expand(-1, n, -1, -1, -1)  # (passes - 1, N, types, h, w)
            values = y_tilde.unsqueeze(0).expand_as(later).reshape(-1, types, height, width)
            mean, scale = self.predict(values, later.reshape(values.shape))
            mass = gaussian_bin_mass(values, mean, scale).view(later.shape)
            picked = (mass * target[1:].unsqueeze(1)).sum(0)  # each element is the target of one pass at most
            out = torch.where(target[1:].any(0), picked, out)
        return out

    @torch.no_grad()
    def tables(
        self, decoded: Tensor, dither: Tensor, coded: Tensor, first: FirstTables, low: int, high: int
    ) -> Iterator[tuple[int, Tensor, np.ndarray]]:
        """The coding tables pass by pass, in decoding order: (type, target positions (bool h, w), tables
        (n, high - low + 1) of those positions in row-major order). ``decoded`` (1, types, h, w) holds
        k + d in step units where known; a decoder fills in each pass's values before taking the next
        pass, since every pass reads ``decoded`` when it starts. ``dither`` is d, (1, types, h, w), on the
        model's device like ``decoded``; the symbols ``k`` of the other methods live on the CPU."""
        _, _, height, width = decoded.shape
        known, target = self.masks(coded, height, width)
        for j, (types, _) in enumerate(self.passes(coded)):
            if j > 0:  # one network call per pass, the same at both ends
                mean, scale = self.predict(decoded, known[j].unsqueeze(0))
            for t in types.tolist():
                where = target[j, t]
                d = dither[0, t][where]
                if j == 0:
                    yield t, where, first(t, d, low, high)
                else:
                    yield t, where, gaussian_tables(mean[0, t][where], scale[0, t][where], d, low, high)

    def code_length(self, k: Tensor, dither: Tensor, coded: Tensor, first: FirstTables, low: int, high: int) -> float:
        """-sum log q(k) in nats of the symbols ``k`` (1, types, h, w) under the probabilities q the coder
        codes with: the tables quantized as constriction quantizes them
        (:func:`~ibflow.entropy.categorical.quantized_pmf_rows`), so the payload is this length plus a word or two."""
        decoded = k.to(dither.device, dither.dtype) + dither
        total = 0
        for t, where, table in self.tables(decoded, dither, coded, first, low, high):
            symbols = (k[0, t][where.cpu()] - low).cpu().numpy()
            if len(symbols):
                weights = quantized_pmf_rows(table)[np.arange(len(symbols)), symbols]
                total += PRECISION * len(symbols) * math.log(2) - float(np.log(weights.astype(np.float64)).sum())
        return float(total)

    @torch.no_grad()
    def encode(self, k: Tensor, dither: Tensor, coded: Tensor, first: FirstTables, low: int, high: int) -> np.ndarray:
        """ANS words of the coded symbols of ``k`` (1, types, h, w) in [low, high]; uncoded types are not read."""
        import constriction

        decoded = k.to(dither.device, dither.dtype) + dither
        rows = [((k[0, t][where.cpu()] - low).cpu().numpy().astype(np.int32), table)
                for t, where, table in self.tables(decoded, dither, coded, first, low, high)]
        coder = constriction.stream.stack.AnsCoder()
        for symbols, table in reversed(rows):  # a stack: encode backwards, decode forwards
            if len(symbols):
                coder.encode_reverse(symbols, constriction.stream.model.Categorical(perfect=False), table)
        return np.asarray(coder.get_compressed(), dtype=np.uint32)

    @torch.no_grad()
    def decode(
        self, coder: object, dither: Tensor, coded: Tensor, first: FirstTables, low: int, high: int
    ) -> Tensor:
        """The symbols (1, types, h, w), int64 (0 for uncoded types), that :meth:`encode` wrote, read from
        an ANS ``coder`` (:func:`ibflow.entropy.bitstream.ans_decoder`) pass by pass."""
        import constriction

        decoded = torch.zeros_like(dither)
        k = torch.zeros(dither.shape, dtype=torch.int64)
        for t, where, table in self.tables(decoded, dither, coded, first, low, high):
            if not len(table):
                continue
            symbols = torch.from_numpy(
                np.asarray(coder.decode(constriction.stream.model.Categorical(perfect=False), table), dtype=np.int64)  # type: ignore[attr-defined]
            ) + low
            k[0, t][where.cpu()] = symbols
            decoded[0, t][where] = symbols.to(decoded) + dither[0, t][where]
        return k
