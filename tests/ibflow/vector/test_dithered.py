"""DitheredFlowCodec: the FlowCodec trained as one, its f(x) coded by shared-dither universal quantization."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import CODECS, DitheredFlowCodec, FlowCodec, get_codec
from ibflow.entropy import RANGE_SIDE_BYTES, overhead_bytes, stream_bytes, unpack


def _flow(seed: int = 0, sigma: float = 0.1) -> FlowCodec:
    """A small initialised FlowCodec (eval mode); sigma 0.1 puts a latent of unit spread over ~3 grid steps."""
    torch.manual_seed(seed)
    flow = FlowCodec(dim=2, depth=1, hidden=8, sigma=sigma)
    flow.data_init(torch.randn(256, 2, generator=torch.Generator().manual_seed(seed)))
    return flow.eval()


@functools.cache
def _codec(seed: int = 0, fit_steps: int = 60) -> DitheredFlowCodec:
    """The dithered twin of :func:`_flow` with a briefly fitted entropy model (shared: no test changes it)."""
    codec = DitheredFlowCodec.from_flowcodec(_flow(seed))
    codec.prepare_coding(torch.randn(2048, 2, generator=torch.Generator().manual_seed(seed + 1)), steps=fit_steps)
    return codec


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 2**16))
def test_round_trip_is_exact_and_the_dither_error_is_at_most_half_a_step(n, seed):
    codec = _codec()
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    assert torch.equal(codec.decompress(**stream)["x_hat"], codec.reconstruct(k))
    y, d = codec.scaled_latent(x), codec.dither(n)
    # k = round(y - d) in float32, so |fl(y - d) - k| <= 1/2 exactly; in exact arithmetic |y - (k + d)|
    # exceeds 1/2 by at most that float32 subtraction's rounding, half an ulp of |y - d|
    assert bool(((y - d) - k).abs().max() <= 0.5)
    exact = (y.double() - (k.double() + d.double())).abs()
    assert bool((exact <= 0.5 + 2.0**-24 * (y - d).abs().double()).all())
    # the decoder's input is step * (k + d): f(x) moved by less than half a step in every dimension
    z_hat = codec.step * (k.to(d) + d)
    assert bool(((z_hat - codec.encode(x)).abs() <= codec.step * (0.5 + 1e-5)).all())


def test_the_quantization_error_is_uniform_and_uncorrelated_with_the_latent():
    # Ziv 1985: e = k + d - y is U(-1/2, 1/2) and independent of y. Checked on 2^16 x 2 errors: mean 0
    # (SE sqrt(1/12 / m)), variance 1/12 (SE sqrt(1/180 / m), the variance of e^2 being 1/80 - 1/144),
    # and correlation with y 0 (SE 1/sqrt(m)); each within 4 SE (fixed seed).
    codec = _codec()
    x = torch.randn(2**16, 2, generator=torch.Generator().manual_seed(9))
    y = codec.scaled_latent(x).double()
    e = codec.symbols(x).double() + codec.dither(len(x)).double() - y
    m = e.numel()
    assert abs(float(e.mean())) < 4 * math.sqrt(1 / 12 / m)
    assert abs(float((e**2).mean()) - 1 / 12) < 4 * math.sqrt(1 / 180 / m)
    for j in range(2):
        r = torch.corrcoef(torch.stack([e[:, j], y[:, j]]))[0, 1]
        assert abs(float(r)) < 4 / math.sqrt(len(x))


def test_the_payload_is_the_fitted_models_ideal_code_length_plus_a_few_words():
    codec = _codec()
    x = torch.randn(4096, 2, generator=torch.Generator().manual_seed(2))
    stream = codec.compress(x)
    payload = unpack(stream["strings"][0], "flowcodec-dithered", codec.config, stream["shape"]).payload
    assert stream_bytes(stream["strings"]) == overhead_bytes("flowcodec-dithered", 1, RANGE_SIDE_BYTES) + len(payload) == 54 + len(payload)
    k = codec.symbols(x)
    ideal_bits = codec.code_length(k) / math.log(2)
    # ANS: the ideal length of its tables, plus its final 32-bit state and the padding to whole 32-bit
    # words (at most 64 bits), plus the 24-bit quantization of the probabilities (far below 1e-3 bit per symbol)
    assert ideal_bits - 32 <= 8 * len(payload) <= ideal_bits + 64 + 1e-3 * k.numel()


def test_prepare_coding_fits_only_the_entropy_model_and_shortens_the_code():
    flow = _flow()
    codec = DitheredFlowCodec.from_flowcodec(flow)
    x = torch.randn(4096, 2, generator=torch.Generator().manual_seed(5))
    k = codec.symbols(x)
    before = {name: v.clone() for name, v in codec.state_dict().items()}
    unfitted = codec.code_length(k)
    assert not bool(codec.coding_fitted)
    codec.prepare_coding(x, steps=100)
    changed = {name for name, v in codec.state_dict().items() if not torch.equal(before[name], v)}
    assert changed and all(name.startswith("latent_model.") or name == "coding_fitted" for name in changed)
    assert bool(codec.coding_fitted)
    assert torch.equal(codec.symbols(x), k)  # the symbols do not depend on the entropy model
    assert codec.code_length(k) < unfitted
    # the fitted model is state: a fresh codec loaded from the state dict writes the same bytes
    fresh = DitheredFlowCodec(**codec.config).eval()
    fresh.load_state_dict(codec.state_dict())
    assert fresh.compress(x)["strings"] == codec.compress(x)["strings"]
    for bad in (torch.randn(8, 3), torch.randn(8)):
        with pytest.raises(ValueError, match="shape"):
            codec.prepare_coding(bad)
    with pytest.raises(ValueError, match="steps"):
        codec.prepare_coding(x, steps=-1)


def test_from_flowcodec_copies_the_trained_model_which_trains_like_a_flowcodec():
    flow = _flow(sigma=0.3)
    flow.set_bin_width([0.4, 0.6])
    twin = DitheredFlowCodec.from_flowcodec(flow)
    assert type(twin) is DitheredFlowCodec and twin.config == flow.config and not twin.training
    assert torch.equal(twin.bin_width, flow.bin_width) and float(twin.sigma) == pytest.approx(0.3)
    x = torch.randn(64, 2)
    a, b = flow.loss(x, 0.5, torch.Generator().manual_seed(1)), twin.loss(x, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(a.total, b.total)
    fa, fb = flow(x, generator=torch.Generator().manual_seed(2)), twin(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(fa["x_hat"], fb["x_hat"]) and torch.equal(fa["rate"], fb["rate"])
    with torch.no_grad():  # a copy: changing the twin leaves the FlowCodec alone
        next(twin.encoder.parameters()).add_(1.0)
    assert not torch.equal(twin.encode(x), flow.encode(x))
    # a dithered codec's copy keeps its fitted entropy model
    fitted = _codec()
    again = DitheredFlowCodec.from_flowcodec(fitted)
    assert bool(again.coding_fitted) and again.compress(x)["strings"] == fitted.compress(x)["strings"]
    with pytest.raises(TypeError, match="FlowCodec"):
        DitheredFlowCodec.from_flowcodec(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_streams_of_the_binned_flowcodec_and_of_other_configs_are_refused():
    codec = _codec()
    x = torch.randn(16, 2)
    flow = _flow()  # the FlowCodec the dithered codec was copied from: same weights and config
    assert flow.config == codec.config
    with pytest.raises(BitstreamError, match="codec mismatch"):
        codec.decompress(**flow.compress(x))
    stream = codec.compress(x)
    with pytest.raises(BitstreamError, match="codec mismatch"):
        flow.decompress(**stream)
    other = DitheredFlowCodec(dim=2, depth=1, hidden=9, sigma=0.1)
    with pytest.raises(BitstreamError, match="config mismatch"):
        other.decompress(**stream)


def test_options_are_flowcodecs():
    entry = CODECS.get("flowcodec-dithered")
    assert entry.obj is DitheredFlowCodec and entry.tags == frozenset({"vector"})
    assert entry.options is CODECS.get("flowcodec").options
    codec = get_codec("flowcodec-dithered", 3, sigma=0.5, depth=1)
    assert isinstance(codec, FlowCodec) and codec.config == FlowCodec(3, sigma=0.5, depth=1).config
    assert codec.step == pytest.approx(math.sqrt(12) * 0.5)
    for bad in (dict(dim=0), dict(dim=2, sigma=0.0), dict(dim=2, decoder="none")):
        with pytest.raises(ValueError):
            DitheredFlowCodec(**bad)
    with pytest.raises(ValueError, match="shape"):
        _codec().compress(torch.randn(4, 3))
