"""The entropy-constrained encoding rule argmin_k ||x - c_k||^2 + beta l_k (Chou, Lookabaugh & Gray 1989,
eq. 9), exact: by intervals in 1-D, in blocks of the full cost matrix above.

All paths compute in float64 and return the same indices up to exact ties (probability 0 for a
continuous source); the tests compare them with the written-out rule, :func:`brute_force_assign`.

Example:
    >>> c = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> x = torch.tensor([[0.4, 0.1], [0.9, 0.2], [0.2, 0.7]])
    >>> lagrangian_assign(x, c, torch.zeros(3), 0.5).tolist()
    [0, 1, 2]
    >>> lagrangian_assign(x, c, torch.tensor([0.0, 0.0, 3.0]), 0.5).tolist()  # codeword 2 now costs 1.5 nats
    [0, 1, 0]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["lagrangian_intervals", "lagrangian_assign", "brute_force_assign", "CHUNK_ELEMENTS"]

CHUNK_ELEMENTS = 2**22  # entries of a block of costs or bounds: 32 MiB of float64


def lagrangian_intervals(codebook: Tensor, lengths: Tensor, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """In one dimension the Lagrangian cells are intervals: (x - c_k)^2 + beta l_k is x^2 plus the line
    -2 c_k x + c_k^2 + beta l_k, so the argmin follows the lower envelope of K lines (the "convex hull
    trick"). Returns (thresholds (m,), codeword (m + 1,)): x below thresholds[0] goes to codeword[0],
    x in [thresholds[i - 1], thresholds[i]) to codeword[i]. Codewords off the envelope own no interval.

    Example:
        >>> c = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
        >>> t, k = lagrangian_intervals(c, torch.tensor([0.0, 5.0, 0.0]), 0.1)
        >>> t.tolist(), k.tolist()  # codeword 1 costs too much rate to own any x
        ([0.5], [0, 2])
    """
    c = codebook.detach().to(torch.float64).cpu().numpy()[:, 0]
    offset = beta * lengths.detach().to(torch.float64).cpu().numpy()
    order = np.lexsort((offset, c))  # by position, the cheaper of equal codewords first
    hull: list[int] = []
    cuts: list[float] = []

    def cut(i: int, j: int) -> float:  # where codeword j (right of i) starts to cost less than i
        return 0.5 * (c[i] + c[j]) + (offset[j] - offset[i]) / (2 * (c[j] - c[i]))

    for j in order:
        if hull and c[hull[-1]] == c[j]:
            continue  # the same codeword at a higher rate never wins
        while hull and cuts and cut(hull[-1], j) <= cuts[-1]:
            hull.pop()
            cuts.pop()
        if hull:
            cuts.append(cut(hull[-1], j))
        hull.append(int(j))
    return np.array(cuts, dtype=np.float64), np.array(hull, dtype=np.int64)


def _costs(x: Tensor, c: Tensor, offset: Tensor, candidates: Tensor) -> Tensor:
    """||x_i - c_k||^2 + offset_k for each row i and its candidates[i] (n, C): the rule written out."""
    return ((x[:, None, :] - c[candidates]) ** 2).sum(-1) + offset[candidates]


def lagrangian_assign(x: Tensor, codebook: Tensor, lengths: Tensor, beta: float) -> Tensor:
    """argmin_k ||x - c_k||^2 + beta * lengths_k for each row of x (n, dim), as int64 (n,), in float64.

    In 1-D by the intervals of :func:`lagrangian_intervals` (n log K); above, as
    ||c_k||^2 + beta l_k - 2 x . c_k (||x||^2 is common to all k) in blocks of rows, so n x K never sits
    in memory at once (2^17 samples against 1024 codewords: 32 blocks of 32 MiB).

    Example:
        >>> c = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
        >>> x = torch.tensor([[0.45], [0.55]])
        >>> lagrangian_assign(x, c, torch.zeros(2), 0.1).tolist()
        [0, 1]
        >>> lagrangian_assign(x, c, torch.tensor([0.0, 2.0]), 0.1).tolist()  # the threshold moves to 0.6
        [0, 0]
    """
    x = x.detach().to(torch.float64)
    c = codebook.detach().to(torch.float64).to(x.device)
    offset = beta * lengths.detach().to(torch.float64).to(x.device)
    n, d = x.shape
    if n == 0:
        return torch.empty(0, dtype=torch.int64, device=x.device)
    if d == 1:
        cuts, owner = lagrangian_intervals(c, lengths, beta)
        where = np.searchsorted(cuts, x[:, 0].cpu().numpy(), side="right")
        return torch.from_numpy(owner[where]).to(x.device)
    full = (c * c).sum(1) + offset
    out = torch.empty(n, dtype=torch.int64, device=x.device)
    rows = max(1, CHUNK_ELEMENTS // max(1, len(c)))
    for start in range(0, n, rows):
        out[start : start + rows] = torch.addmm(full, x[start : start + rows], c.T, alpha=-2.0).argmin(1)
    return out


def brute_force_assign(x: Tensor, codebook: Tensor, lengths: Tensor, beta: float) -> Tensor:
    """The same argmin with the cost written out for every pair, ||x - c_k||^2 + beta l_k (for tests)."""
    x = x.detach().to(torch.float64)
    c = codebook.detach().to(torch.float64)
    everyone = torch.arange(len(c)).expand(len(x), -1)
    return _costs(x, c, beta * lengths.detach().to(torch.float64), everyone).argmin(1)
