"""Every registered codec and channel keeps its contract; checkpoints rebuild any codec; ``import ibflow`` is light."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

import contracts
import ibflow
from ibflow import (
    CHANNELS,
    CODECS,
    get_channel,
    get_codec,
    load_checkpoint,
    save_checkpoint,
)
from ibflow.entropy import stream_bytes

CODEC_NAMES = CODECS.names()


def _tiny_input(tags: frozenset[str]) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    if "image" in tags:
        return torch.rand(2, 3, 16, 16, generator=gen)
    if "video" in tags:  # training batches are clips of three frames; a bitstream codes one video (T, C, H, W)
        return torch.rand(2, 3, 3, 16, 16, generator=gen)
    if "vector" in tags:
        return torch.randn(64, 2, generator=gen)
    if "distributed" in tags:  # the pair [x, y], x of dim 2 and y of dim 1 (or [x1, x2] of dims 2 and 1)
        return torch.randn(64, 3, generator=gen)
    assert "jscc" in tags, f"a codec must say what it takes: tags {sorted(tags)}"
    return torch.randn(64, 1, generator=gen)


def _built(name: str) -> tuple[Any, torch.Tensor, frozenset[str]]:
    """The codec ``name`` from its default options (a vector codec gets dim 2, a distributed one the positional
    dims 2 and 1: dim and side_dim, or dim1 and dim2), initialised on a tiny batch."""
    entry = CODECS.get(name)
    torch.manual_seed(0)
    if "vector" in entry.tags:
        codec = get_codec(name, 2)
    elif "distributed" in entry.tags:
        codec = get_codec(name, 2, 1)
    else:
        codec = get_codec(name)
    x = _tiny_input(entry.tags)
    codec.train()
    if hasattr(codec, "data_init"):
        codec.data_init(x, generator=torch.Generator().manual_seed(1))
    return codec.eval(), x, entry.tags


def test_the_registry_lists_the_codecs_and_their_tags():
    assert {"flowcodec", "flowcodec-dithered", "ntc", "imageflow", "quantized-image", "jscc"} <= set(CODEC_NAMES)
    assert {"flowcodec", "flowcodec-dithered", "ntc"} <= set(CODECS.tagged("vector"))
    assert {"imageflow", "quantized-image"} <= set(CODECS.tagged("image"))
    assert CODECS.tagged("jscc") == ["jscc"]
    assert {"awgn", "rayleigh", "erasure"} <= set(CHANNELS.names())


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_forward_keeps_the_codec_contract(name):
    codec, x, tags = _built(name)
    with torch.no_grad():
        out = codec(x, generator=torch.Generator().manual_seed(2))
    # a distributed codec reconstructs the first ``dim`` columns of its batch: x of the pair [x, y] (Wyner-Ziv),
    # both sources of [x1, x2] (two-terminal)
    source = x[:, : codec.dim] if "distributed" in tags else x
    source = source[:, -1] if "video" in tags else source  # a video codec reconstructs the last frame of each clip
    assert out["x_hat"].shape == source.shape and bool(torch.isfinite(out["x_hat"]).all())
    if "jscc" in tags:
        assert set(out) == {"x_hat", "distortion"} and out["distortion"].shape == (len(x),)
        return
    assert isinstance(codec, contracts.Codec)
    assert ("rate" in out) != ("likelihoods" in out), "a codec gives its rate or its likelihoods"
    if "rate" in out:
        assert isinstance(codec, contracts.NoisyLatentCodec)
        assert out["rate"].shape == (len(x),) and bool(torch.isfinite(out["rate"]).all())
    else:
        for likelihood in out["likelihoods"].values():
            assert len(likelihood) == len(x) and bool(((likelihood > 0) & (likelihood <= 1)).all())


def _one_stream_input(x: torch.Tensor) -> torch.Tensor:
    """What one bitstream codes: one image (1, C, H, W), one video (T, C, H, W) of a batch of clips, or the rows."""
    if x.dim() == 5:
        return x[0]
    return x[:1] if x.dim() == 4 else x


@pytest.mark.parametrize("name", CODECS.tagged("vector") + CODECS.tagged("image") + CODECS.tagged("video"))
def test_compress_decompress_round_trip(name):
    codec, x, _ = _built(name)
    x = _one_stream_input(x)  # the image bitstreams code one image at a time, a video's one video
    coded = codec.compress(x)
    assert set(coded) == {"strings", "shape"} and all(isinstance(s, bytes) for s in coded["strings"])
    assert stream_bytes(coded["strings"]) > 0
    x_hat = codec.decompress(coded["strings"], coded["shape"])["x_hat"]
    assert x_hat.shape == x.shape and bool(torch.isfinite(x_hat).all())
    again = codec.decompress(list(coded["strings"]), coded["shape"])["x_hat"]
    assert torch.equal(x_hat, again)  # the strings alone decide the output


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_checkpoint_round_trip_gives_identical_outputs(name, tmp_path):
    codec, x, tags = _built(name)
    save_checkpoint(codec, tmp_path / "c.pt", step=7)
    blob = torch.load(tmp_path / "c.pt", weights_only=True)
    assert blob["codec"] == name and blob["meta"] == {"step": 7}
    loaded = load_checkpoint(tmp_path / "c.pt").eval()
    assert type(loaded) is type(codec) and loaded.config == codec.config
    with torch.no_grad():
        a = codec(x, generator=torch.Generator().manual_seed(3))
        b = loaded(x, generator=torch.Generator().manual_seed(3))
    assert set(a) == set(b) and torch.equal(a["x_hat"], b["x_hat"])
    # jscc has no bitstream; a distributed codec's needs a coset code fitted first and its decoder side
    # information (round trips and checkpoints with a code: tests/ibflow/vector/test_binning.py)
    if not tags & {"jscc", "distributed"}:
        x1 = _one_stream_input(x)
        coded = codec.compress(x1)
        assert loaded.compress(x1)["strings"] == coded["strings"]
        assert torch.equal(loaded.decompress(**coded)["x_hat"], codec.decompress(**coded)["x_hat"])


def test_a_checkpoint_naming_an_unknown_codec_is_refused(tmp_path):
    codec = ibflow.FlowCodec(1, hidden=4)
    save_checkpoint(codec, tmp_path / "c.pt")
    blob = torch.load(tmp_path / "c.pt", weights_only=True)
    torch.save({**blob, "codec": "no-such-codec"}, tmp_path / "unknown.pt")
    with pytest.raises(contracts.UnknownPartError, match="holds codec 'no-such-codec', which is not registered"):
        load_checkpoint(tmp_path / "unknown.pt")
    torch.save({"config": blob["config"], "state_dict": blob["state_dict"]}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="not an ibflow codec checkpoint"):
        load_checkpoint(tmp_path / "old.pt")


def test_get_codec_resolves_names_and_paths_and_checks_options():
    codec = get_codec("flowcodec", 3, hidden=8, sigma=0.5)
    assert codec.config["dim"] == 3 and codec.config["hidden"] == 8 and codec.config["sigma"] == 0.5
    by_path = get_codec("ibflow.vector.codec:FlowCodec", 3, depth=1)
    assert isinstance(by_path, ibflow.FlowCodec) and by_path.config["depth"] == 1
    users = get_codec("tests.ibflow.test_contract:make_users_codec", 4, width=2)
    assert users == ("users codec", 4, 2)
    with pytest.raises(ValueError, match="codec 'flowcodec' takes no option 'widht'"):
        get_codec("flowcodec", 2, widht=3)
    with pytest.raises(contracts.UnknownPartError, match="unknown codec 'nope'"):
        get_codec("nope")


def make_users_codec(dim: int, width: int = 1) -> tuple[str, int, int]:
    """A user's factory found by path, with no registration."""
    return ("users codec", dim, width)


@pytest.mark.parametrize("name", CHANNELS.names())
def test_every_channel_keeps_the_channel_contract(name):
    channel = get_channel(name, 10.0)
    assert isinstance(channel, contracts.Channel)
    assert channel.snr_db == 10.0 and channel.signal_power == 1.0
    s = torch.randn(32, 4)
    out = channel(s, torch.Generator().manual_seed(0))
    assert out.y.shape == s.shape and (out.state is None or out.state.shape == s.shape)
    assert torch.equal(out.y, channel(s, torch.Generator().manual_seed(0)).y)  # seeded
    bound = channel.distortion_ratio_lower_bound(1, 1)
    assert 0 < bound < 1
    rebuilt = get_channel(name, **channel.config)
    assert type(rebuilt) is type(channel) and rebuilt.config == channel.config
    with pytest.raises(ValueError, match="takes no option"):
        get_channel(name, 10.0, no_such_option=1)


def test_import_ibflow_is_light():
    code = "import ibflow, sys; print('scipy.integrate' in sys.modules, 'ibflow.channel.jscc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    code = "import ibflow, sys; ibflow.JSCCCodec; print('ibflow.channel.jscc' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["True"]


def test_bad_bitstreams_raise_bitstream_error():
    codec = ibflow.QuantizedImageCodec(hidden=8, latent=6).eval()
    coded = codec.compress(torch.rand(1, 3, 16, 24))
    (data,) = coded["strings"]
    with pytest.raises(contracts.BitstreamError, match="shape mismatch"):
        codec.decompress(coded["strings"], (3, 3))
    with pytest.raises(contracts.BitstreamError, match="length mismatch"):
        codec.decompress([data[:-1]], coded["shape"])
    with pytest.raises(contracts.BitstreamError, match="length mismatch"):
        codec.decompress([data + b"\x00"], coded["shape"])
    with pytest.raises(contracts.BitstreamError, match="one string"):
        codec.decompress([data, b""], coded["shape"])
