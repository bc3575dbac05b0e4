"""Every bitstream codec round-trips exactly and refuses every damaged or foreign stream.

For each codec family (FlowCodec, DitheredFlowCodec, NTCCodec, ImageFlowCodec, QuantizedImageCodec, and the
fitted ECVQCodec and UniformScalarCodec) hypothesis
draws input shapes and seeds: the decoded symbols equal the encoded ones and x_hat equals the codec's
own reconstruction; every single-byte change (every position, several masks), every truncation (every
prefix, the empty one included) and any appended bytes raise :class:`ibflow.BitstreamError`; so do a
stream of another codec or config, and a wrong ``shape``. The damage tests cannot be flaky: the
container's CRC-32 detects every burst error of up to 32 bits, so any change within one byte, with
certainty; truncation and padding fail its exact length check. Hypothesis runs derandomized (conftest.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import ibflow
from ibflow import (
    BitstreamError, DitheredFlowCodec, ECVQCodec, FlowCodec, ImageFlowCodec, NTCCodec, QuantizedImageCodec, UniformScalarCodec,
)
from ibflow.entropy import IMAGE_SIDE_BYTES, RANGE_SIDE_BYTES, TABLE_DIGEST_BYTES, overhead_bytes, pack, stream_bytes, unpack
from ibflow.registry import part_name


@functools.cache
def _codec(family: str, variant: int = 0) -> Any:
    """A small codec of ``family`` (``variant`` 1: same class, another config), eval mode, fixed weights."""
    torch.manual_seed(variant)
    if family == "flowcodec":
        codec = FlowCodec(dim=2, depth=1, hidden=8 + variant)
        codec.data_init(torch.randn(256, 2))
        angle = 0.7 + variant  # a rotated base space (fit_base_coding's), every column coded
        c, s_ = math.cos(angle), math.sin(angle)
        codec.set_base_coding(torch.tensor([[c, -s_], [s_, c]]), [0.5, 0.8])
    elif family == "flowcodec-dithered":  # a step sqrt(12) * 0.1: several symbols per dimension
        codec = DitheredFlowCodec(dim=2, depth=1, hidden=8 + variant, sigma=0.1)
        codec.data_init(torch.randn(256, 2))
        codec.eval().prepare_coding(2 * torch.randn(1024, 2), steps=40)
    elif family == "ntc":
        codec = NTCCodec(2, hidden=8 + variant)
        with torch.no_grad():  # spread the latents over several symbols
            codec.g_a[-1].weight.mul_(20)
    elif family in ("ecvq", "uniform"):
        # fitted codecs: variant 1 has another config (so the container refuses it before the tables do)
        codec = ECVQCodec(2, codewords=64 + variant) if family == "ecvq" else UniformScalarCodec(2, max_cells=4096 + variant)
        codec.fit(torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 1.0]), 0.3)
    elif family == "imageflow":
        codec = ImageFlowCodec(levels=1, steps=1, hidden=4 + variant, sigma=0.05)
        codec.data_init(torch.rand(4, 3, 8, 8))
    else:
        codec = QuantizedImageCodec(hidden=4, latent=3 + variant)
        with torch.no_grad():  # spread the latents over several symbols
            codec.analysis[-1].weight.mul_(50)
    return codec.eval()


FAMILIES = ["flowcodec", "flowcodec-dithered", "ntc", "imageflow", "quantized-image", "ecvq", "uniform"]
VECTOR_FAMILIES = ("flowcodec", "flowcodec-dithered", "ntc", "ecvq", "uniform")
OTHER_FAMILY = {
    "flowcodec": "ntc", "flowcodec-dithered": "flowcodec", "ntc": "flowcodec", "imageflow": "quantized-image",
    "quantized-image": "imageflow", "ecvq": "uniform", "uniform": "ecvq",
}
SIDE = {
    "flowcodec": 0, "flowcodec-dithered": RANGE_SIDE_BYTES, "ntc": RANGE_SIDE_BYTES, "imageflow": IMAGE_SIDE_BYTES,
    "quantized-image": IMAGE_SIDE_BYTES, "ecvq": TABLE_DIGEST_BYTES, "uniform": TABLE_DIGEST_BYTES,
}


def _input(family: str, size: tuple[int, int], seed: int) -> torch.Tensor:
    """n = size[0] + 1 rows for vector codecs; one image of size * the codec's multiple for image codecs."""
    gen = torch.Generator().manual_seed(seed)
    if family in VECTOR_FAMILIES:
        return torch.randn(size[0] + 1, 2, generator=gen) * 2
    m = _codec(family).multiple
    return torch.rand(1, 3, size[0] * m, size[1] * m, generator=gen)


def _reconstruction(codec: Any, x: torch.Tensor) -> torch.Tensor:
    """The codec's own x_hat of its symbols, without the bitstream (NTC's: forward's, in eval mode)."""
    if isinstance(codec, NTCCodec):
        return codec(x)["x_hat"]
    return codec.reconstruct(codec.symbols(x))


SIZES = st.tuples(st.integers(1, 3), st.integers(1, 3))
SEEDS = st.integers(0, 2**16)


def _raises(fn: Callable[[], Any], match: str | None = None) -> None:
    with pytest.raises(BitstreamError, match=match):
        fn()


@pytest.mark.parametrize("family", FAMILIES)
@given(size=SIZES, seed=SEEDS)
def test_round_trip_is_exact(family, size, seed):
    codec = _codec(family)
    x = _input(family, size, seed)
    stream = codec.compress(x)
    assert set(stream) == {"strings", "shape"} and len(stream["strings"]) == 1
    unpacked = unpack(stream["strings"][0], family, codec.config, stream["shape"])
    assert part_name(codec) == family
    assert stream_bytes(stream["strings"]) == overhead_bytes(family, len(stream["shape"]), SIDE[family]) + len(unpacked.payload)
    k = codec.symbols(x)
    assert unpacked.symbols == k.numel()
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    assert torch.equal(codec.decompress(stream["strings"], stream["shape"])["x_hat"], _reconstruction(codec, x))


@pytest.mark.parametrize("family", FAMILIES)
@given(size=SIZES, seed=SEEDS, mask=st.integers(1, 255), extra=st.binary(min_size=1, max_size=8))
def test_every_damaged_stream_is_refused(family, size, seed, mask, extra):
    codec = _codec(family)
    stream = codec.compress(_input(family, size, seed))
    (data,), shape = stream["strings"], stream["shape"]
    for pos in range(len(data)):
        for m in {1, 0x80, 0xFF, mask}:
            damaged = bytearray(data)
            damaged[pos] ^= m
            _raises(lambda d=bytes(damaged): codec.decompress([d], shape))
    for end in range(len(data)):
        _raises(lambda d=data[:end]: codec.decompress([d], shape))
    _raises(lambda: codec.decompress([data + extra], shape), "length mismatch")


@pytest.mark.parametrize("family", FAMILIES)
@given(size=SIZES, seed=SEEDS)
def test_foreign_streams_and_wrong_shapes_are_refused(family, size, seed):
    codec = _codec(family)
    stream = codec.compress(_input(family, size, seed))
    strings, shape = stream["strings"], stream["shape"]
    other = _codec(OTHER_FAMILY[family])
    _raises(lambda: other.decompress(strings, shape), f"codec mismatch: the stream was written by '{family}'")
    _raises(lambda: _codec(family, variant=1).decompress(strings, shape), "config mismatch")
    wrong = tuple(s + 1 for s in shape)
    _raises(lambda: codec.decompress(strings, wrong), "shape mismatch")
    _raises(lambda: codec.decompress(strings, (*shape, 1)), "shape mismatch")
    _raises(lambda: codec.decompress([*strings, strings[0]], shape), "one string")


def _repacked(codec: Any, data: bytes, **change: Any) -> bytes:
    """``data`` re-packed, with an intact CRC, with the fields in ``change`` replaced: a stream that is
    well-formed but not what compress wrote, so that the codec's own checks must catch it."""
    fields = unpack(data, part_name(codec), codec.config)._asdict()
    fields.update(change)
    return pack(part_name(codec), codec.config, fields["shape"], fields["symbols"], fields["payload"], fields["side"])


@pytest.mark.parametrize("family", FAMILIES)
def test_well_formed_streams_that_compress_did_not_write_are_refused(family):
    codec = _codec(family)
    stream = codec.compress(_input(family, (3, 2), 7))
    (data,), shape = stream["strings"], stream["shape"]
    fields = unpack(data, family, codec.config)
    assert len(fields.payload) >= 4
    # a word pushed on top of the ANS stack: the decoder reads other symbols and words are left over
    extra_word = _repacked(codec, data, payload=fields.payload + b"\x07\x00\x00\x00")
    _raises(lambda: codec.decompress([extra_word], shape))
    # a word that belongs to no coder, half a word, a symbol count that is not the shape's
    _raises(lambda: codec.decompress([_repacked(codec, data, payload=b"\x00" * 4)], shape), "not a coder's output")
    _raises(lambda: codec.decompress([_repacked(codec, data, payload=fields.payload + b"\x01")], shape), "32-bit words")
    _raises(lambda: codec.decompress([_repacked(codec, data, symbols=fields.symbols + 1)], shape), "symbol")
    if family in VECTOR_FAMILIES:
        # n rows need n * dim symbols (n for ecvq): a stream claiming one row more than it codes
        longer = _repacked(codec, data, shape=(shape[0] + 1,))
        _raises(lambda: codec.decompress([longer], (shape[0] + 1,)))
    if family == "flowcodec":
        _raises(lambda: codec.decompress([_repacked(codec, data, side=b"\x00")], shape), "side information")
        return
    low = int(codec.symbols(_input(family, (3, 2), 7)).min())
    side = bytearray(fields.side)
    side[0:2] = (low - 1).to_bytes(2, "little", signed=True)  # a symbol range below every symbol
    _raises(lambda: codec.decompress([_repacked(codec, data, side=bytes(side))], shape))
    _raises(lambda: codec.decompress([_repacked(codec, data, side=fields.side[:-1])], shape), "side information")
    if family in ("imageflow", "quantized-image"):
        side = bytearray(fields.side)
        side[4:6] = (int.from_bytes(side[4:6], "little") + 1).to_bytes(2, "little")  # an image height the latent shape does not give
        _raises(lambda: codec.decompress([_repacked(codec, data, side=bytes(side))], shape), "image size")


@pytest.mark.parametrize("family", FAMILIES)
@given(payload=st.binary(max_size=24).map(lambda b: b[: len(b) // 4 * 4]))
def test_any_payload_in_an_intact_container_decodes_or_raises_bitstream_error(family, payload):
    """Even a well-formed container around arbitrary words never raises anything but BitstreamError."""
    codec = _codec(family)
    stream = codec.compress(_input(family, (1, 1), 0))
    data = _repacked(codec, stream["strings"][0], payload=payload)
    try:
        codec.decompress([data], stream["shape"])
    except BitstreamError:
        pass


def test_the_codecs_are_the_registered_ones():
    assert {name: type(_codec(name)) for name in FAMILIES} == {name: ibflow.CODECS.get(name).obj for name in FAMILIES}
