"""What the codecs put into their container (:mod:`ibflow.entropy.container`): ANS words as payload
bytes, and the side information of a symbol range (and an image size).

Each codec's ``strings`` is one container (CompressAI keeps one string per latent; these codecs have
one coded latent): payload = the ANS words (little-endian uint32), side information = the symbol
range (two int16) of the factorized-model codecs and, for images, the image size (two uint16).

Example:
    >>> side = range_side(-3, 4, (16, 32))
    >>> len(side), read_range_side(side, image=True)
    (8, (-3, 4, (16, 32)))
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from contracts import BitstreamError

__all__ = [
    "RANGE_SIDE_BYTES",
    "IMAGE_SIDE_BYTES",
    "words_to_bytes",
    "bytes_to_words",
    "range_side",
    "read_range_side",
    "stream_bytes",
    "ans_decoder",
    "check_drained",
    "check_range",
]

_RANGE = struct.Struct("<hh")  # lowest and highest symbol
_IMAGE = struct.Struct("<hhHH")  # the symbol range, then height and width
RANGE_SIDE_BYTES = _RANGE.size
IMAGE_SIDE_BYTES = _IMAGE.size


def words_to_bytes(words: np.ndarray) -> bytes:
    """ANS words (uint32) as little-endian bytes."""
    return np.ascontiguousarray(words, dtype="<u4").tobytes()


def bytes_to_words(data: bytes) -> np.ndarray:
    """The inverse of :func:`words_to_bytes` (a fresh, writable uint32 array)."""
    if len(data) % 4:
        raise BitstreamError(f"an ANS payload is a whole number of 32-bit words, got {len(data)} bytes")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def range_side(low: int, high: int, size: tuple[int, int] | None = None) -> bytes:
    """Side information: the symbol range [low, high], and the image ``size`` (height, width) if given."""
    if not (-(2**15) <= low <= high < 2**15):
        raise ValueError(f"symbols out of the int16 range of the side information: [{low}, {high}]")
    if size is None:
        return _RANGE.pack(low, high)
    if not all(0 <= s < 2**16 for s in size):
        raise ValueError(f"an image size of at most 65535 x 65535, got {size}")
    return _IMAGE.pack(low, high, *size)


def read_range_side(side: bytes, image: bool = False) -> tuple[int, int, tuple[int, int] | None]:
    """(low, high, size) from :func:`range_side`'s bytes; a wrong length or an empty or one-symbol range
    (the coder's range is at least two symbols wide) raises :class:`contracts.BitstreamError`."""
    layout = _IMAGE if image else _RANGE
    if len(side) != layout.size:
        raise BitstreamError(f"side information of {len(side)} bytes, expected {layout.size}")
    fields = layout.unpack(side)
    low, high = fields[0], fields[1]
    if high <= low:
        raise BitstreamError(f"the side information's symbol range [{low}, {high}] is not the coder's (two symbols or more)")
    return low, high, ((fields[2], fields[3]) if image else None)


def stream_bytes(strings: Sequence[bytes]) -> int:
    """Bytes of a bitstream, every string counted (for these codecs: the whole container)."""
    return sum(len(s) for s in strings)


def ans_decoder(words: np.ndarray):
    """A constriction ``AnsCoder`` that decodes ``words``; words the coder refuses (e.g. a last word 0)
    raise :class:`contracts.BitstreamError`."""
    import constriction

    try:
        return constriction.stream.stack.AnsCoder(words)
    except ValueError as err:
        raise BitstreamError(f"the ANS payload is not a coder's output: {err}") from None


def check_drained(coder) -> None:
    """Raise :class:`contracts.BitstreamError` unless the ANS coder is back in its initial state after
    decoding every symbol: words left over mean the payload is not what the encoder wrote for these symbols."""
    if not coder.is_empty():
        raise BitstreamError(
            f"coder not empty at the end: {coder.num_valid_bits()} bits left after the last symbol "
            "(the payload does not belong to this codec's model or shape)"
        )


def check_range(k, low: int, high: int) -> None:
    """Raise :class:`contracts.BitstreamError` unless decoded symbols ``k`` (a tensor) span exactly the
    range the encoder stored: its lowest symbol is the smallest one, its highest the largest (or low + 1,
    the coder's minimum width). A symbol range that no symbol reaches is not what the encoder wrote."""
    if k.numel() == 0:
        if (low, high) != (0, 1):
            raise BitstreamError(f"symbols out of range: no symbols, but the range [{low}, {high}] is not the empty stream's [0, 1]")
        return
    lo, hi = int(k.min()), int(k.max())
    if lo != low or max(hi, lo + 1) != high:
        raise BitstreamError(f"symbols out of range: decoded symbols span [{lo}, {hi}], the side information says [{low}, {high}]")
