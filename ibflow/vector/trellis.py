"""The trellises of trellis-coded quantization and the Viterbi search over them (entropy-constrained or not).

Trellis-coded quantization (TCQ; Marcellin & Fischer 1990, IEEE Trans. Commun. 38(1)) uses the
reconstruction grid :math:`j \\Delta`, partitioned into the four subsets :math:`D_c = \\{j \\Delta : j
\\equiv c \\pmod 4\\}` (Ungerboeck's set partitioning of the integers), and the union codebooks
:math:`A_0 = D_0 \\cup D_2` (even j) and :math:`A_1 = D_1 \\cup D_3` (odd j). Each trellis state
belongs to one union codebook :math:`A_u`; its two branches use :math:`D_u` and :math:`D_{u+2}`. A
point :math:`j = 2m + u` of :math:`A_u` is sent as its index m within the union codebook; the parity
of m is the branch bit, so a decoder that knows the state follows the trellis from the indices alone.

The trellises are Ungerboeck's rate-1/2 codes for one-dimensional (amplitude) modulation, given by
their parity-check polynomials (h0, h1) (Ungerboeck 1987, "Trellis-coded modulation with redundant
signal sets, Part II", IEEE Commun. Mag. 25(2), Table I), the trellises Marcellin & Fischer use; the
8-state one is the trellis of JPEG 2000 Part 2's TCQ. Each is realised here as a systematic feedback
encoder in observer form: the state's first bit is the coded bit (the union codebook), the input bit
is the branch bit.

Example:
    >>> t = ungerboeck_trellis(8)
    >>> t.states, t.union.tolist()
    (8, [0, 1, 0, 1, 0, 1, 0, 1])
    >>> t.next_state[0].tolist()  # state 0: D0 stays in state 0, D2 leaves it
    [0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UNGERBOECK_CODES", "Trellis", "ungerboeck_trellis", "SearchTables", "SearchResult", "trellis_search"]

# states -> (h0, h1), octal as in Ungerboeck's table of one-dimensional codes
UNGERBOECK_CODES: dict[int, tuple[int, int]] = {
    4: (0o5, 0o2),
    8: (0o13, 0o04),
    16: (0o23, 0o04),
    32: (0o45, 0o10),
    64: (0o103, 0o024),
    128: (0o235, 0o126),
    256: (0o515, 0o362),
}


@dataclass(frozen=True, eq=False)
class Trellis:
    """A TCQ trellis: ``next_state[s, p]`` after branch bit p from state s, ``union[s]`` the union
    codebook of state s, and for each state its two incoming branches: ``pred[s, i]`` the previous
    state and ``pred_subset[s, i]`` the subset (0..3) that branch uses."""

    states: int
    next_state: np.ndarray
    union: np.ndarray
    pred: np.ndarray
    pred_subset: np.ndarray


def _observer_trellis(nu: int, h0: int, h1: int) -> Trellis:
    """The trellis of the parity check ``sum_k h0_k y_{n-k} + h1_k x_{n-k} = 0 (mod 2)`` (y the coded,
    x the input bit), in observer canonical form: registers r_1..r_nu, y_n = r_1,
    r_k <- r_{k+1} + h0_k y + h1_k x (k < nu), r_nu <- h0_nu y + h1_nu x."""
    a = [(h0 >> k) & 1 for k in range(nu + 1)]
    b = [(h1 >> k) & 1 for k in range(nu + 1)]
    if not (a[0] and a[nu]) or b[0] or b[nu]:
        raise ValueError(f"not a systematic feedback code of memory {nu}: h0 = {h0:o}, h1 = {h1:o} (octal)")
    count = 1 << nu
    next_state = np.zeros((count, 2), dtype=np.int64)
    union = np.zeros(count, dtype=np.int64)
    for s in range(count):
        r = [(s >> k) & 1 for k in range(nu)]  # r_1 .. r_nu as bits 0 .. nu-1
        y = r[0]
        union[s] = y
        for x in (0, 1):
            new = [r[k] ^ (a[k] & y) ^ (b[k] & x) for k in range(1, nu)] + [(a[nu] & y) ^ (b[nu] & x)]
            next_state[s, x] = sum(bit << k for k, bit in enumerate(new))
    incoming: list[list[tuple[int, int]]] = [[] for _ in range(count)]
    for s in range(count):
        for x in (0, 1):
            incoming[next_state[s, x]].append((s, int(union[s]) + 2 * x))
    if any(len(edges) != 2 for edges in incoming):
        raise ValueError(f"h0 = {h0:o}, h1 = {h1:o} does not give a trellis with two branches into every state")
    pred = np.array([[e[0] for e in edges] for edges in incoming], dtype=np.int64)
    pred_subset = np.array([[e[1] for e in edges] for edges in incoming], dtype=np.int64)
    return Trellis(count, next_state, union, pred, pred_subset)


def ungerboeck_trellis(states: int) -> Trellis:
    """Ungerboeck's one-dimensional trellis with ``states`` states (a key of :data:`UNGERBOECK_CODES`)."""
    if states not in UNGERBOECK_CODES:
        raise ValueError(f"states must be one of {sorted(UNGERBOECK_CODES)}, got {states!r}")
    h0, h1 = UNGERBOECK_CODES[states]
    return _observer_trellis(states.bit_length() - 1, h0, h1)


@dataclass(frozen=True, eq=False)
class SearchTables:
    """What the search reads, for G parameter sets (a coordinate, or a candidate step of one):
    ``step`` (G,) the grid step Delta; ``points`` and ``code_length`` (G, 2, L): per union codebook
    the reconstruction value and the code length in nats of index m, at position m + L // 2;
    ``support`` (G, 2, 2) int: per union codebook the lowest and highest index m the encoder may use
    (inclusive, at least two wide so that both subsets have a point)."""

    step: np.ndarray
    points: np.ndarray
    code_length: np.ndarray
    support: np.ndarray

    @property
    def levels(self) -> int:
        return int(self.points.shape[-1])


@dataclass(frozen=True, eq=False)
class SearchResult:
    """The chosen path per row: ``index`` (R, T) the index m within the union codebook, ``union`` (R, T)
    the union codebook it is read in (both 0 past a row's length), ``squared_error`` and
    ``code_length`` (R,) summed over the row's samples (nats)."""

    index: np.ndarray
    union: np.ndarray
    squared_error: np.ndarray
    code_length: np.ndarray


def _branch_costs(
    x: np.ndarray, group: np.ndarray, tables: SearchTables, beta: float, candidates: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample and subset c (0..3), the least ``(x - point)^2 + beta * code_length`` over the
    ``candidates`` points of D_c nearest on the grid (clamped to the support), and its index m.
    Shapes: x (R, C) -> (R, C, 4) float64 and int64."""
    levels = tables.levels
    subset = np.arange(4)
    u, p = subset & 1, subset >> 1
    lo = tables.support[group][:, u, 0]  # (R, 4)
    hi = tables.support[group][:, u, 1]
    # points j = 4 q + c of D_c have m = 2 q + p: q within the support of m
    q_lo = -((p - lo) // 2)  # ceil((lo - p) / 2)
    q_hi = (hi - p) // 2
    step = tables.step[group][:, None, None]
    q0 = np.rint((x[..., None] / step - subset) / 4)  # nearest grid point of D_c
    offsets = np.arange(candidates) - candidates // 2
    q = (q0[..., None] + offsets).astype(np.int64)
    q = np.clip(q, q_lo[:, None, :, None], q_hi[:, None, :, None])
    m = 2 * q + p[:, None]
    flat = ((group[:, None, None, None] * 2 + u[:, None]) * levels) + m + levels // 2
    cost = (x[..., None, None] - tables.points.reshape(-1)[flat]) ** 2 + beta * tables.code_length.reshape(-1)[flat]
    best = cost.argmin(-1)
    return np.take_along_axis(cost, best[..., None], -1)[..., 0], np.take_along_axis(m, best[..., None], -1)[..., 0]


def trellis_search(
    x: np.ndarray,
    lengths: np.ndarray,
    group: np.ndarray,
    tables: SearchTables,
    beta: float,
    trellis: Trellis,
    candidates: int = 3,
    chunk: int = 256,
) -> SearchResult:
    """The Viterbi search (Marcellin & Fischer 1990, sec. III): per row of ``x``, the trellis path from
    state 0 that minimises ``sum_t (x_t - point_t)^2 + beta * code_length_t`` (beta = 0: fixed-rate
    TCQ), each branch taking the best of its subset's ``candidates`` nearest points (entropy-constrained
    TCQ, Fischer & Wang 1992: a farther point may have a shorter code).

    Rows are independent sequences searched together (the loop runs over time, array operations over
    rows and states); the path ends in whichever state is cheapest.

    Arguments:
        x: (R, T) float64 samples, row r valid for its first ``lengths[r]`` samples.
        lengths: (R,) int, 1 <= lengths[r] <= T.
        group: (R,) int, the parameter set of ``tables`` that codes row r.
        tables: grid steps, points, code lengths and supports (:class:`SearchTables`).
        beta: Lagrange multiplier in distortion per nat (>= 0).
        trellis: the trellis (:func:`ungerboeck_trellis`).
        candidates: points per subset considered on each branch (odd, >= 1).
        chunk: time steps whose branch costs are computed at once (bounds the memory).

    Returns:
        The chosen path (:class:`SearchResult`).
    """
    rows, steps = x.shape
    valid = np.arange(steps)[None, :] < lengths[:, None]
    best_m = np.zeros((rows, steps, 4), dtype=np.int64)
    back = np.zeros((steps, rows, trellis.states), dtype=bool)
    p0, p1 = trellis.pred[:, 0], trellis.pred[:, 1]
    cost = np.full((rows, trellis.states), np.inf)
    cost[:, 0] = 0.0
    for t0 in range(0, steps, chunk):
        t1 = min(t0 + chunk, steps)
        branch, best_m[:, t0:t1] = _branch_costs(x[:, t0:t1], group, tables, beta, candidates)
        branch[~valid[:, t0:t1]] = 0.0  # past a row's end every branch is free: the path there is ignored
        # the cost of each state's two incoming branches, (C, R, S) each: the loop below only adds and compares
        into0 = np.ascontiguousarray(branch[:, :, trellis.pred_subset[:, 0]].transpose(1, 0, 2))
        into1 = np.ascontiguousarray(branch[:, :, trellis.pred_subset[:, 1]].transpose(1, 0, 2))
        for t in range(t0, t1):
            first = cost[:, p0] + into0[t - t0]
            second = cost[:, p1] + into1[t - t0]
            took = second < first
            back[t] = took
            cost = np.where(took, second, first)
    # trace back: (state, branch taken) -> previous state and the subset of that branch
    previous = trellis.pred.reshape(-1)
    subset_of = trellis.pred_subset.reshape(-1)
    at = np.arange(rows)
    edge = 2 * cost.argmin(1)
    subsets = np.zeros((rows, steps), dtype=np.int64)
    for t in range(steps - 1, -1, -1):
        edge += back[t, at, edge >> 1]
        subsets[:, t] = subset_of[edge]
        edge = 2 * previous[edge]
    index = np.where(valid, np.take_along_axis(best_m, subsets[..., None], -1)[..., 0], 0)
    union = np.where(valid, subsets & 1, 0)
    levels = tables.levels
    flat = (group[:, None] * 2 + union) * levels + index + levels // 2
    error = np.where(valid, (x - tables.points.reshape(-1)[flat]) ** 2, 0.0).sum(1)
    length = np.where(valid, tables.code_length.reshape(-1)[flat], 0.0).sum(1)
    return SearchResult(index, union, error, length)
