"""ANS coding of an index array under one fixed pmf, with the exact probabilities the coder uses.

constriction's ``Categorical(probs, perfect=False)`` quantizes a float pmf to integer weights of
total 2^24 (its default ``AnsCoder`` precision), each at least 1 (the quantization is *leaky*: every
index stays codable). :func:`quantized_pmf` reproduces that quantization bit for bit (the
``fast_quantized_cdf`` of constriction 0.4 / 0.5: left cumulative of index i = floor(C_i (2^24 - K) / C_K) + i,
C_i the running float sum of the first i entries), so a codec knows the code length -log q_k of
every index *as coded* and can use it in its encoding rule, and encoder and decoder build their
tables from the same float64 pmf. The test suite checks the reproduction against constriction's own
decoder, quantile by quantile.

Example:
    >>> pmf = np.array([0.5, 0.25, 0.125, 0.125])
    >>> k = np.array([0, 1, 0, 3, 2, 0])
    >>> words = encode_categorical(k, pmf)
    >>> decode_categorical(words, pmf, len(k)).tolist()
    [0, 1, 0, 3, 2, 0]
    >>> round(categorical_code_length(k, pmf) / math.log(2), 3)  # 1 + 2 + 1 + 3 + 3 + 1 bits
    11.0
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from contracts import BitstreamError
from ibflow.entropy.bitstream import ans_decoder, check_drained

__all__ = [
    "PRECISION",
    "TABLE_DIGEST_BYTES",
    "check_pmf",
    "table_digest",
    "quantized_pmf",
    "quantized_pmf_rows",
    "coded_pmf",
    "coded_log_pmf",
    "encode_categorical",
    "decode_categorical",
    "encode_categorical_rows",
    "decode_categorical_rows",
    "categorical_code_length",
]

PRECISION = 24
"""Bits of the integer weights of constriction's default ``AnsCoder`` models (weights sum to 2^24)."""
TABLE_DIGEST_BYTES = 8


def check_pmf(pmf: np.ndarray) -> np.ndarray:
    """``pmf`` as a float64 array after checking that it is one the coder takes: 1-D, 1 to 2^24 - 2
    entries, finite, nonnegative, with a positive sum (it need not sum to 1: constriction normalises)."""
    p = np.asarray(pmf, dtype=np.float64)
    if p.ndim != 1 or not 1 <= len(p) < 2**PRECISION - 1:
        raise ValueError(f"pmf must be 1-D with 1 to {2**PRECISION - 2} entries, got shape {p.shape}")
    if not (np.isfinite(p).all() and (p >= 0).all() and p.sum() > 0):
        raise ValueError("pmf must be finite and nonnegative with a positive sum")
    return p


def quantized_pmf(pmf: np.ndarray) -> np.ndarray:
    """The integer weights (int64, summing to 2^24, each >= 1) that ``Categorical(pmf, perfect=False)``
    codes with; a single entry gets the whole weight (one index costs nothing and is not coded).

    Example:
        >>> quantized_pmf(np.array([0.5, 0.5, 0.0])).tolist()
        [8388607, 8388608, 1]
    """
    p = check_pmf(pmf)
    if len(p) == 1:
        return np.array([2**PRECISION], dtype=np.int64)
    return quantized_pmf_rows(p[None])[0]


def quantized_pmf_rows(tables: np.ndarray) -> np.ndarray:
    """:func:`quantized_pmf` of every row of ``tables`` (n, K), K >= 2, at once: the weights of a coder fed one
    table per symbol (``Categorical(perfect=False)`` with the tables as model parameters), int64 (n, K).

    Example:
        >>> quantized_pmf_rows(np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])).tolist()
        [[8388607, 8388608, 1], [4194304, 4194304, 8388608]]
    """
    p = np.asarray(tables, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"tables must be 2-D with at least 2 entries per row, got shape {p.shape}")
    cumulative = np.cumsum(p, axis=1)  # a running sum in order, as constriction's iterator adds them
    scale = float(2**PRECISION - p.shape[1]) / cumulative[:, -1:]
    left = np.concatenate([np.zeros((len(p), 1)), cumulative[:, :-1]], axis=1)
    cdf = np.floor(left * scale).astype(np.int64) + np.arange(p.shape[1], dtype=np.int64)
    return np.diff(np.concatenate([cdf, np.full((len(p), 1), 2**PRECISION, dtype=np.int64)], axis=1), axis=1)


def coded_pmf(pmf: np.ndarray) -> np.ndarray:
    """The probabilities the coder uses, ``quantized_pmf(pmf) / 2^24`` (float64, exact)."""
    return quantized_pmf(pmf) / float(2**PRECISION)


def coded_log_pmf(pmf: np.ndarray) -> np.ndarray:
    """log q_k in nats of the coded probabilities (the negative ideal code length of each index)."""
    return np.log(quantized_pmf(pmf).astype(np.float64)) - PRECISION * math.log(2)


def table_digest(*arrays: np.ndarray) -> bytes:
    """8 bytes identifying the tables a codec codes with (first bytes of SHA-256 over the arrays' dtype,
    shape and float64 / int64 bytes): side information that ties a stream to the fitted model, since a
    codec's config alone does not say what ``fit`` learned.

    Example:
        >>> table_digest(np.array([0.5, 0.5])) == table_digest(np.array([0.5, 0.5]))
        True
        >>> table_digest(np.array([0.5, 0.5])) == table_digest(np.array([0.25, 0.75]))
        False
    """
    digest = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        a = a.astype("<i8") if np.issubdtype(a.dtype, np.integer) else a.astype("<f8")
        digest.update(f"{a.dtype.str}{a.shape}".encode("ascii"))
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.digest()[:TABLE_DIGEST_BYTES]


def _indices(indices: np.ndarray, size: int) -> np.ndarray:
    k = np.asarray(indices)
    if k.ndim != 1 or not (np.issubdtype(k.dtype, np.integer) or k.size == 0):
        raise ValueError(f"indices must be a 1-D integer array, got dtype {k.dtype} and shape {k.shape}")
    if k.size and (k.min() < 0 or k.max() >= size):
        raise ValueError(f"indices must lie in [0, {size - 1}] (the pmf has {size} entries), got [{k.min()}, {k.max()}]")
    return k.astype(np.int32)


def encode_categorical(indices: np.ndarray, pmf: np.ndarray) -> np.ndarray:
    """ANS words (uint32) of ``indices`` (1-D, each in [0, len(pmf))), i.i.d. under ``pmf``.

    An index outside the pmf's range is the caller's error and raises :class:`ValueError`. A pmf of
    one entry codes nothing (empty words): the decoder knows every index is 0.
    """
    return encode_categorical_rows([indices], [pmf])


def encode_categorical_rows(rows: Sequence[np.ndarray], pmfs: Sequence[np.ndarray]) -> np.ndarray:
    """ANS words of several index rows on one stack, row r i.i.d. under ``pmfs[r]`` (e.g. one row per
    coordinate of a scalar quantizer); :func:`decode_categorical_rows` reads them back in order.

    Example:
        >>> pmfs = [np.array([0.9, 0.1]), np.array([0.2, 0.3, 0.5])]
        >>> words = encode_categorical_rows([np.array([0, 0, 1]), np.array([2, 1, 0])], pmfs)
        >>> [row.tolist() for row in decode_categorical_rows(words, pmfs, 3)]
        [[0, 0, 1], [2, 1, 0]]
    """
    import constriction

    if len(rows) != len(pmfs):
        raise ValueError(f"one pmf per row: {len(rows)} rows, {len(pmfs)} pmfs")
    checked = [check_pmf(p) for p in pmfs]
    symbols = [_indices(k, len(p)) for k, p in zip(rows, checked)]
    if len({k.size for k in symbols}) > 1:
        raise ValueError(f"every row holds the same number of indices, got {[k.size for k in symbols]}")
    coder = constriction.stream.stack.AnsCoder()
    for k, p in zip(reversed(symbols), reversed(checked)):  # a stack: encode backwards, decode forwards
        if len(p) > 1 and k.size:
            coder.encode_reverse(k, constriction.stream.model.Categorical(p, perfect=False))
    return np.asarray(coder.get_compressed(), dtype=np.uint32)


def decode_categorical(words: np.ndarray, pmf: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` indices (int64) that :func:`encode_categorical` coded into ``words`` under the same ``pmf``.

    Raises :class:`contracts.BitstreamError` if the coder refuses the words, if words are left over
    after the n-th index (the payload is not what the encoder wrote for this pmf and n), or if an
    index falls outside the pmf's range.
    """
    return decode_categorical_rows(words, [pmf], n)[0]


def decode_categorical_rows(words: np.ndarray, pmfs: Sequence[np.ndarray], n: int) -> list[np.ndarray]:
    """The rows of ``n`` indices each that :func:`encode_categorical_rows` coded under the same ``pmfs``,
    with the checks of :func:`decode_categorical` (every word used, every index in range)."""
    import constriction

    checked = [check_pmf(p) for p in pmfs]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    words = np.asarray(words, dtype=np.uint32)
    if n == 0 or all(len(p) == 1 for p in checked):
        if len(words):
            raise BitstreamError(f"{len(words)} ANS words where none were coded ({n} indices under pmfs of one entry)")
        return [np.zeros(int(n), dtype=np.int64) for _ in checked]
    coder = ans_decoder(words)
    out = []
    for p in checked:
        if len(p) == 1:
            out.append(np.zeros(int(n), dtype=np.int64))
            continue
        k = np.asarray(coder.decode(constriction.stream.model.Categorical(p, perfect=False), int(n)), dtype=np.int64)
        # the coder cannot return another index for this model; checked anyway, so that a change in
        # the coder surfaces as a refused stream and not as an out-of-range lookup in a codebook
        if k.min() < 0 or k.max() >= len(p):
            raise BitstreamError(f"decoded indices span [{k.min()}, {k.max()}], outside the pmf's [0, {len(p) - 1}]")
        out.append(k)
    check_drained(coder)
    return out


def categorical_code_length(indices: np.ndarray, pmf: np.ndarray) -> float:
    """-sum log q_k in nats over ``indices`` under the coded probabilities q (:func:`coded_pmf`): the
    ideal code length the words of :func:`encode_categorical` approach (within about 64 bits)."""
    p = check_pmf(pmf)
    k = _indices(indices, len(p))
    if len(p) == 1:
        return 0.0
    return float(-coded_log_pmf(p)[k].sum())
