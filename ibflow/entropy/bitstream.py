"""Bitstreams as the codec contract's ``strings``: the ANS payload, then a small header of side information.

Every bitstream codec here returns ``strings = [payload, header]`` (``bytes`` each; CompressAI keeps one
string per latent, here the header takes the second place): the payload holds the ANS words
(little-endian uint32), the header the symbol range of the stream (two int16) and, for images, the
image size (two uint16). The size of a bitstream is the sum of both lengths. (A checked container with
a CRC is the next step.)
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from contracts import BitstreamError

__all__ = [
    "RANGE_HEADER_BYTES",
    "IMAGE_HEADER_BYTES",
    "words_to_bytes",
    "bytes_to_words",
    "pack_stream",
    "unpack_stream",
    "stream_bytes",
]

_RANGE = struct.Struct("<hh")  # lowest and highest symbol
_IMAGE = struct.Struct("<hhHH")  # the symbol range, then height and width
RANGE_HEADER_BYTES = _RANGE.size
IMAGE_HEADER_BYTES = _IMAGE.size


def words_to_bytes(words: np.ndarray) -> bytes:
    """ANS words (uint32) as little-endian bytes."""
    return np.ascontiguousarray(words, dtype="<u4").tobytes()


def bytes_to_words(data: bytes) -> np.ndarray:
    """The inverse of :func:`words_to_bytes` (a fresh, writable uint32 array)."""
    if len(data) % 4:
        raise BitstreamError(f"an ANS payload is a whole number of 32-bit words, got {len(data)} bytes")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def pack_stream(words: np.ndarray, low: int, high: int, size: tuple[int, int] | None = None) -> list[bytes]:
    """``[payload, header]`` for ANS ``words`` of symbols in [low, high], with the image ``size``
    (height, width) in the header if given.

    Example:
        >>> strings = pack_stream(np.array([7, 9], dtype=np.uint32), -3, 4, (16, 32))
        >>> [len(s) for s in strings], unpack_stream(strings, image=True)[1:]
        ([8, 8], (-3, 4, (16, 32)))
    """
    if not (-(2**15) <= low <= high < 2**15):
        raise ValueError(f"symbols out of the int16 header range: [{low}, {high}]")
    header = _RANGE.pack(low, high) if size is None else _IMAGE.pack(low, high, *size)
    return [words_to_bytes(words), header]


def unpack_stream(strings: Sequence[bytes], image: bool = False) -> tuple[np.ndarray, int, int, tuple[int, int] | None]:
    """(words, low, high, size) of a stream written by :func:`pack_stream`; a malformed one raises
    :class:`contracts.BitstreamError`."""
    if len(strings) != 2:
        raise BitstreamError(f"expected [payload, header], got {len(strings)} strings")
    payload, header = (bytes(s) for s in strings)
    layout = _IMAGE if image else _RANGE
    if len(header) != layout.size:
        raise BitstreamError(f"header of {len(header)} bytes, expected {layout.size}")
    fields = layout.unpack(header)
    low, high = fields[0], fields[1]
    if high < low:
        raise BitstreamError(f"header symbol range [{low}, {high}] is empty")
    size = (fields[2], fields[3]) if image else None
    return bytes_to_words(payload), low, high, size


def stream_bytes(strings: Sequence[bytes]) -> int:
    """Bytes of a bitstream, header included."""
    return sum(len(s) for s in strings)
