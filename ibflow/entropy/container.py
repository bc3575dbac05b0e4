"""The one bitstream container every codec's ``strings`` hold: a checked header, side information, the payload, a CRC-32.

A damaged, truncated, padded or foreign stream raises :class:`contracts.BitstreamError` with what is
wrong; it never reaches an entropy decoder that would turn it into garbage (DESIGN.md, contracts).

Byte layout (little-endian, no padding), version 1::

    offset          size  field
    0               4     magic b"IBFS"
    4               1     format version (1)
    5               1     L, length of the codec name
    6               L     codec name, ASCII (the registered name, ibflow.registry.part_name)
    6+L             8     config hash: first 8 bytes of SHA-256 of the canonical JSON of the codec's config
    14+L            1     ndim of the shape
    15+L            4*nd  shape, one uint32 per dimension
    15+L+4nd        4     symbol count (uint32)
    19+L+4nd        1     S, length of the side information
    20+L+4nd        S     side information (codec-specific, e.g. symbol range, image size)
    20+L+4nd+S      4     P, payload length (uint32)
    24+L+4nd+S      P     payload (the ANS words)
    24+L+4nd+S+P    4     CRC-32 (zlib.crc32) of every byte before it

Overhead per stream: ``OVERHEAD_BYTES`` (28) + L + 4 ndim + S bytes; for the codecs here
(L, ndim, S): ``flowcodec`` (9, 1, 0) 41 bytes, ``flowcodec-dithered`` (18, 1, 4) 54 bytes, ``ntc``
(3, 1, 4) 39 bytes, ``imageflow`` (9, 2, 8) 53 bytes, ``quantized-image`` (15, 2, 8) 59 bytes. Every reported byte rate counts it.

Every length field is bounds-checked against the bytes actually present before it is used, the total
length must match exactly (no trailing bytes), and then the CRC is checked over everything before it,
so only an intact stream's fields are compared with the decoder's codec, config and shape. CRC-32
detects every burst error of up to 32 bits, hence every change confined to one byte, with certainty.

Example:
    >>> data = pack("toy", {"dim": 2}, (3,), 6, b"\\x01\\x00\\x00\\x00", side=b"\\x07")
    >>> len(data) == overhead_bytes("toy", 1, 1) + 4
    True
    >>> unpack(data, "toy", {"dim": 2}, (3,))
    Unpacked(shape=(3,), symbols=6, payload=b'\\x01\\x00\\x00\\x00', side=b'\\x07')
    >>> unpack(data[:-1], "toy", {"dim": 2})
    Traceback (most recent call last):
    ...
    contracts.interface.BitstreamError: length mismatch: the header gives a stream of 40 bytes, got 39 (truncated, padded or a damaged header)
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from contracts import BitstreamError

__all__ = [
    "MAGIC",
    "VERSION",
    "OVERHEAD_BYTES",
    "Unpacked",
    "config_hash",
    "overhead_bytes",
    "pack",
    "unpack",
    "unpack_strings",
]

MAGIC = b"IBFS"  # "ibflow stream"
VERSION = 1
_U8, _U32 = struct.Struct("<B"), struct.Struct("<I")
HASH_BYTES = 8
# magic, version, name length, config hash, ndim, symbol count, side length, payload length, CRC
OVERHEAD_BYTES = len(MAGIC) + 1 + 1 + HASH_BYTES + 1 + 4 + 1 + 4 + 4
_LIMIT_U32 = 2**32


class Unpacked(NamedTuple):
    """The fields of an intact container: the tensor shape, the symbol count, the payload and the side information."""

    shape: tuple[int, ...]
    symbols: int
    payload: bytes
    side: bytes


def _canonical(value: Any) -> Any:
    """``value`` as plain JSON types, so that equal configs serialise to equal bytes: tuples become lists,
    numpy scalars and 0-d tensors their Python value, floats stay floats (1.0 and 1 are different configs)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # json writes repr(float), the shortest exact form; non-finite values get a fixed spelling
        return value if math.isfinite(value) else {"float": repr(value)}
    item = getattr(value, "item", None)  # numpy scalars, 0-d tensors
    if callable(item) and getattr(value, "ndim", 1) == 0:
        return _canonical(item())
    tolist = getattr(value, "tolist", None)  # arrays, tensors
    if callable(tolist):
        return _canonical(tolist())
    raise ValueError(f"a codec config must hold JSON-like values, got {type(value).__name__}: {value!r}")


def config_hash(config: Mapping[str, Any]) -> bytes:
    """8 bytes identifying a codec config: SHA-256 of its canonical JSON (sorted keys, no spaces).

    Example:
        >>> config_hash({"a": (1, 2.5), "b": True}) == config_hash({"b": True, "a": [1, 2.5]})
        True
        >>> config_hash({"sigma": 1.0}) == config_hash({"sigma": 1})
        False
    """
    text = json.dumps(_canonical(dict(config)), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).digest()[:HASH_BYTES]


def overhead_bytes(codec_name: str, ndim: int, side_bytes: int = 0) -> int:
    """Bytes a container adds to its payload: 28 + len(codec_name) + 4 ndim + side_bytes."""
    return OVERHEAD_BYTES + len(codec_name.encode("ascii")) + 4 * ndim + side_bytes


def pack(
    codec_name: str, config: Mapping[str, Any], shape: Sequence[int], symbols: int, payload: bytes, side: bytes = b""
) -> bytes:
    """The container of ``payload`` (see the module docstring for the layout).

    Arguments:
        codec_name: the codec's registered name (ASCII, at most 255 bytes).
        config: the codec's ``config`` dict; only its hash is stored.
        shape: the ``shape`` the codec's ``compress`` returns (each dimension < 2^32, at most 255 of them).
        symbols: how many symbols the payload codes (< 2^32).
        payload: the entropy coder's bytes (< 2^32); side: side information (at most 255 bytes).
    """
    name = codec_name.encode("ascii")
    dims = tuple(int(s) for s in shape)
    if not 0 < len(name) < 256:
        raise ValueError(f"a codec name of 1 to 255 ASCII bytes, got {codec_name!r}")
    if len(dims) > 255 or any(not 0 <= s < _LIMIT_U32 for s in dims):
        raise ValueError(f"a shape of at most 255 dimensions, each in [0, 2^32), got {dims}")
    if not 0 <= symbols < _LIMIT_U32 or len(payload) >= _LIMIT_U32 or len(side) > 255:
        raise ValueError(f"too large for the container: {symbols} symbols, {len(payload)} payload bytes, {len(side)} side bytes")
    body = b"".join([
        MAGIC, _U8.pack(VERSION), _U8.pack(len(name)), name, config_hash(config),
        _U8.pack(len(dims)), *(_U32.pack(s) for s in dims), _U32.pack(symbols),
        _U8.pack(len(side)), bytes(side), _U32.pack(len(payload)), bytes(payload),
    ])
    return body + _U32.pack(zlib.crc32(body))


class _Reader:
    """Reads fields in order, refusing to read past the end (so that no length is trusted unchecked)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError(
                f"truncated stream: {len(self.data)} bytes end inside the {what} (needs {self.pos + n})"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return _U8.unpack(self.take(1, what))[0]

    def u32(self, what: str) -> int:
        return _U32.unpack(self.take(4, what))[0]


def unpack(
    data: bytes, codec_name: str, config: Mapping[str, Any], shape: Sequence[int] | None = None
) -> Unpacked:
    """The fields of a container written by :func:`pack` for the codec ``codec_name`` with ``config``
    (and, if given, the ``shape`` the caller passes to ``decompress``).

    Raises :class:`contracts.BitstreamError` for anything but an intact container of that codec and
    config: bad magic, unsupported version, truncated stream, length mismatch (trailing bytes), CRC
    mismatch, codec mismatch, config mismatch, shape mismatch. No other exception escapes for any bytes.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"a bitstream is bytes, got {type(data).__name__}")
    data = bytes(data)
    read = _Reader(data)
    magic = read.take(len(MAGIC), "magic")
    if magic != MAGIC:
        raise BitstreamError(f"bad magic {magic!r}: not an ibflow bitstream (expected {MAGIC!r})")
    version = read.u8("version")
    if version != VERSION:
        raise BitstreamError(f"unsupported bitstream version {version} (this ibflow reads version {VERSION})")
    name = read.take(read.u8("codec name length"), "codec name")
    digest = read.take(HASH_BYTES, "config hash")
    dims = tuple(read.u32("shape") for _ in range(read.u8("shape's ndim")))
    symbols = read.u32("symbol count")
    side = read.take(read.u8("side information length"), "side information")
    size = read.u32("payload length")
    expected = read.pos + size + 4
    if expected != len(data):
        raise BitstreamError(
            f"length mismatch: the header gives a stream of {expected} bytes, got {len(data)} "
            "(truncated, padded or a damaged header)"
        )
    payload = read.take(size, "payload")
    stored = read.u32("CRC")
    actual = zlib.crc32(data[:-4])
    if stored != actual:
        raise BitstreamError(f"CRC mismatch: stored {stored:#010x}, computed {actual:#010x} (the stream is damaged)")
    if name != codec_name.encode("ascii"):
        raise BitstreamError(f"codec mismatch: the stream was written by {name.decode('ascii', 'replace')!r}, not {codec_name!r}")
    if digest != config_hash(config):
        raise BitstreamError(
            f"config mismatch: the stream was written by a {codec_name!r} with another config (hash {digest.hex()}, "
            f"this codec's is {config_hash(config).hex()})"
        )
    if shape is not None and tuple(int(s) for s in shape) != dims:
        raise BitstreamError(f"shape mismatch: the stream holds shape {dims}, decompress was given {tuple(shape)}")
    return Unpacked(dims, symbols, payload, side)


def unpack_strings(
    strings: Sequence[bytes], codec_name: str, config: Mapping[str, Any], shape: Sequence[int] | None = None
) -> Unpacked:
    """:func:`unpack` of a codec contract's ``strings``, which must hold exactly one container."""
    if isinstance(strings, (bytes, bytearray, memoryview, str)) or not isinstance(strings, Sequence):
        raise BitstreamError(f"strings is a list of one bitstream, got {type(strings).__name__}")
    if len(strings) != 1:
        raise BitstreamError(f"a {codec_name!r} stream is one string (one container), got {len(strings)}")
    return unpack(strings[0], codec_name, config, shape)
