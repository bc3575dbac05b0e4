"""The bitstream container (:mod:`ibflow.entropy.container`): exact round trip, and every damage refused.

The damage tests cannot be flaky: CRC-32 detects every burst error of up to 32 bits with certainty,
so every change confined to one byte (any flip mask at any position) is detected, and a truncated or
padded stream fails the exact length check before the CRC is even read. Hypothesis runs derandomized
(the ``ci`` profile of conftest.py), so each run tries the same examples.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow.entropy.container import (
    MAGIC,
    OVERHEAD_BYTES,
    VERSION,
    config_hash,
    overhead_bytes,
    pack,
    unpack,
    unpack_strings,
)

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-:._", min_size=1, max_size=24)
SHAPES = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4).map(tuple)
CONFIGS = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(max_size=5),
              st.none(), st.lists(st.integers(0, 9), max_size=3).map(tuple)),
    max_size=5,
)
STREAMS = st.tuples(NAMES, CONFIGS, SHAPES, st.integers(0, 2**32 - 1), st.binary(max_size=24), st.binary(max_size=12))


@given(STREAMS)
def test_round_trip_is_exact_and_the_overhead_is_as_documented(stream):
    name, config, shape, symbols, payload, side = stream
    data = pack(name, config, shape, symbols, payload, side)
    assert len(data) == overhead_bytes(name, len(shape), len(side)) + len(payload)
    assert len(data) == OVERHEAD_BYTES + len(name) + 4 * len(shape) + len(side) + len(payload)
    assert OVERHEAD_BYTES == 28
    out = unpack(data, name, config, shape)
    assert out == (shape, symbols, payload, side)
    assert unpack(bytearray(data), name, dict(reversed(list(config.items())))) == out  # key order is not the config


@given(STREAMS, st.integers(1, 255))
def test_every_single_byte_change_is_refused(stream, mask):
    """Every position, with the masks 0x01, 0x80, 0xff and one drawn mask."""
    data = pack(*stream)
    for pos in range(len(data)):
        for m in {1, 0x80, 0xFF, mask}:
            damaged = bytearray(data)
            damaged[pos] ^= m
            with pytest.raises(BitstreamError):
                unpack(bytes(damaged), stream[0], stream[1])


@given(STREAMS, st.binary(min_size=1, max_size=8))
def test_every_truncation_and_any_appended_bytes_are_refused(stream, extra):
    data = pack(*stream)
    for end in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:end], stream[0], stream[1])
    with pytest.raises(BitstreamError, match="length mismatch"):
        unpack(data + extra, stream[0], stream[1])


@given(st.binary(max_size=80))
def test_no_byte_string_escapes_as_another_exception(data):
    with pytest.raises(BitstreamError):
        unpack(data, "toy", {})
    with pytest.raises(BitstreamError):
        unpack(MAGIC + bytes([VERSION]) + data, "toy", {})


def test_each_failure_says_what_is_wrong():
    data = pack("toy", {"dim": 2}, (3, 4), 12, b"\x01\x00\x00\x00", b"\x05")
    with pytest.raises(BitstreamError, match="bad magic"):
        unpack(b"XBFS" + data[4:], "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="unsupported bitstream version 2"):
        unpack(data[:4] + b"\x02" + data[5:], "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="truncated stream"):
        unpack(data[:10], "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="length mismatch"):
        unpack(data[:-1], "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="length mismatch"):
        unpack(data + b"\x00", "toy", {"dim": 2})
    damaged = bytearray(data)
    damaged[-6] ^= 1  # a payload byte
    with pytest.raises(BitstreamError, match="CRC mismatch"):
        unpack(bytes(damaged), "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="codec mismatch: the stream was written by 'toy', not 'other'"):
        unpack(data, "other", {"dim": 2})
    with pytest.raises(BitstreamError, match="config mismatch"):
        unpack(data, "toy", {"dim": 3})
    with pytest.raises(BitstreamError, match=r"shape mismatch: the stream holds shape \(3, 4\)"):
        unpack(data, "toy", {"dim": 2}, (4, 3))
    with pytest.raises(BitstreamError, match="bitstream is bytes"):
        unpack("IBFS", "toy", {"dim": 2})  # type: ignore[arg-type]
    with pytest.raises(BitstreamError, match="one string"):
        unpack_strings([data, data], "toy", {"dim": 2})
    with pytest.raises(BitstreamError, match="list of one bitstream"):
        unpack_strings(data, "toy", {"dim": 2})  # type: ignore[arg-type]
    assert unpack_strings((data,), "toy", {"dim": 2}, [3, 4]).shape == (3, 4)


def test_config_hash_is_canonical_and_stable():
    """Tuples and lists, key order, numpy scalars and 0-d arrays hash alike; floats keep their exact value
    (repr), 1.0 and 1 and True differ; the digest of a fixed config never changes between versions."""
    base = {"sigma": 0.1, "hidden": 32, "filters": (3, 3, 3), "decoder": "learned", "spline_bins": None}
    same = {"spline_bins": None, "decoder": "learned", "filters": [3, 3, 3], "hidden": np.int64(32), "sigma": np.float64(0.1)}
    assert config_hash(base) == config_hash(same)
    assert config_hash({"x": np.array(2.5)}) == config_hash({"x": 2.5})
    assert len({config_hash({"x": v}) for v in (1.0, 1, True, "1", 0.1 + 0.2, 0.3)}) == 6
    assert config_hash({"x": math.inf}) != config_hash({"x": -math.inf})
    canonical = b'{"decoder":"learned","filters":[3,3,3],"hidden":32,"sigma":0.1,"spline_bins":null}'
    assert config_hash(base) == hashlib.sha256(canonical).digest()[:8]
    with pytest.raises(ValueError, match="JSON-like"):
        config_hash({"x": object()})


def test_pack_refuses_what_the_layout_cannot_hold():
    with pytest.raises(ValueError, match="codec name"):
        pack("", {}, (), 0, b"")
    with pytest.raises(ValueError, match="codec name"):
        pack("x" * 256, {}, (), 0, b"")
    with pytest.raises(ValueError, match="shape"):
        pack("toy", {}, (2**32,), 0, b"")
    with pytest.raises(ValueError, match="too large"):
        pack("toy", {}, (), 2**32, b"")
    with pytest.raises(ValueError, match="too large"):
        pack("toy", {}, (), 0, b"", b"x" * 256)
