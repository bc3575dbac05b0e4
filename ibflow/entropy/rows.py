"""One container of factorized-model symbols per batch of vectors: what NTC and the dithered FlowCodec write.

The payload is :func:`~ibflow.entropy.factorized.encode_channels`'s ANS words for symbols of shape
(channels, n), the side information their range (:func:`~ibflow.entropy.bitstream.range_side`), the
container's shape (n,) (:mod:`ibflow.entropy.container`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from contracts import BitstreamError
from ibflow.entropy.bitstream import bytes_to_words, check_range, range_side, read_range_side, words_to_bytes
from ibflow.entropy.container import pack, unpack_strings
from ibflow.entropy.factorized import FactorizedPrior, decode_channels, encode_channels

__all__ = ["pack_rows", "unpack_rows"]


def pack_rows(name: str, config: Mapping[str, Any], prior: FactorizedPrior, k: Tensor, offset: Tensor | None = None) -> bytes:
    """The container of symbols ``k`` (channels, n) coded under ``prior`` (with the shared dither
    ``offset`` (channels, n) if given), for the codec ``name`` with ``config``."""
    words, low, high = encode_channels(prior, k, offset)
    return pack(name, config, (int(k.shape[1]),), k.numel(), words_to_bytes(words), range_side(low, high))


def unpack_rows(
    strings: Sequence[bytes], name: str, config: Mapping[str, Any], shape: Sequence[int], prior: FactorizedPrior,
    offset_of: Any = None,
) -> Tensor:
    """The symbols (channels, n) :func:`pack_rows` coded; ``offset_of(n)`` gives the dither (channels, n)
    the encoder used. A stream that is not an intact one of this codec, config and ``shape`` raises
    :class:`contracts.BitstreamError`."""
    stream = unpack_strings(strings, name, config, shape)
    channels = prior.channels
    if len(stream.shape) != 1 or stream.symbols != stream.shape[0] * channels:
        raise BitstreamError(
            f"a vector stream has shape (n,) and n * {channels} symbols, got {stream.shape} and {stream.symbols}"
        )
    low, high, _ = read_range_side(stream.side)
    n = stream.shape[0]
    offset = None if offset_of is None else offset_of(n)
    k = decode_channels(prior, bytes_to_words(stream.payload), low, high, n, offset)
    check_range(k, low, high)
    return k
