"""NTCCodec: the median-centred rounding grid, its exact bitstream, the training proxies, options, the decoder fine-tune."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import CODECS, NTCCodec, get_codec
from ibflow.entropy import FactorizedPrior, RANGE_SIDE_BYTES, channel_code_length, overhead_bytes, stream_bytes, unpack
from ibflow.vector.ntc import prior_median, shifted_prior


def _codec(seed: int = 0, spread: float = 20.0, **options) -> NTCCodec:
    """A small NTC codec whose latents span several symbols (g_a's last layer scaled by ``spread``), eval mode."""
    torch.manual_seed(seed)
    codec = NTCCodec(2, hidden=8, **options)
    with torch.no_grad():
        codec.g_a[-1].weight.mul_(spread)
    return codec.eval()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-3, 3))
def test_the_median_is_where_the_cumulative_is_one_half_and_moves_with_a_shift(seed, shift):
    torch.manual_seed(seed)
    prior = FactorizedPrior(3)
    m = prior_median(prior)
    # c(m) = 1/2: the logit is 0 to within the bisection's last step (40 halvings of a bracket of width >= 2)
    with torch.no_grad():
        assert float(prior.logits_cumulative(m.view(3, 1, 1)).abs().max()) < 1e-4
    moved = shifted_prior(prior, torch.full((3,), shift))
    # the density of y - s has its median at m - s
    assert torch.allclose(prior_median(moved), m - shift, atol=1e-4)
    y = torch.linspace(-4, 4, 17).unsqueeze(1).expand(17, 3)
    assert torch.allclose(moved.likelihood(y), prior.likelihood(y + shift), rtol=1e-4, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 2**16))
def test_the_bitstream_decodes_to_forwards_x_hat_on_the_centred_grid(n, seed):
    codec = _codec()
    x = 2 * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    out = codec(x)
    assert torch.equal(codec.decompress(**stream)["x_hat"], out["x_hat"])
    # the grid is the integers shifted by the median: y_hat - m is integer, within 1/2 of y - m
    with torch.no_grad():
        y, m = codec.g_a(x), codec.median()
    assert torch.equal(torch.round(y - m), k.T.to(y))
    assert bool(((y - m) - k.T).abs().max() <= 0.5)
    # forward's likelihoods are the masses of the cells the coder codes
    expected = codec.coding_prior().likelihood(k.T.to(y))
    assert torch.allclose(out["likelihoods"]["y"], expected, rtol=1e-4)


def test_the_payload_is_the_ideal_code_length_plus_a_few_words():
    codec = _codec()
    x = 2 * torch.randn(4096, 2, generator=torch.Generator().manual_seed(1))
    stream = codec.compress(x)
    k = codec.symbols(x)
    payload = unpack(stream["strings"][0], "ntc", codec.config, stream["shape"]).payload
    assert stream_bytes(stream["strings"]) == overhead_bytes("ntc", 1, RANGE_SIDE_BYTES) + len(payload) == 39 + len(payload)
    ideal_bits = channel_code_length(codec.coding_prior(), k) / math.log(2)
    # ANS: the ideal length of its tables, plus its final 32-bit state and the padding to whole 32-bit
    # words (at most 64 bits), plus the 24-bit quantization of the probabilities (far below 1e-3 bit per symbol)
    assert ideal_bits - 32 <= 8 * len(payload) <= ideal_bits + 64 + 1e-3 * k.numel()


def test_damaged_and_foreign_streams_are_refused():
    codec = _codec()
    stream = codec.compress(torch.randn(20, 2))
    data = stream["strings"][0]
    for pos in (0, len(data) // 2, len(data) - 1):
        damaged = bytearray(data)
        damaged[pos] ^= 0x5A
        with pytest.raises(BitstreamError):
            codec.decompress([bytes(damaged)], stream["shape"])
    with pytest.raises(BitstreamError, match="config mismatch"):
        _codec(latent=3).decompress(**stream)
    with pytest.raises(BitstreamError, match="config mismatch"):
        _codec(quantization="mixed").decompress(**stream)


def test_training_mode_uses_the_proxies():
    x = torch.randn(256, 2)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    noise = _codec().train()
    out = noise(x, generator=gen())
    with torch.no_grad():
        y = noise.g_a(x)
        y_tilde = y + torch.rand(y.shape, generator=gen()) - 0.5  # add_uniform_noise's draw
    assert torch.allclose(out["x_hat"], noise.g_s(y_tilde)) and torch.allclose(out["likelihoods"]["y"], noise.entropy.likelihood(y_tilde))
    mixed = _codec(quantization="mixed").train()
    out = mixed(x, generator=gen())
    # the synthesis decodes the rounded latent (as at test time; y + (y_hat - y) is y_hat to rounding error),
    # the rate stays the noisy proxy's
    with torch.no_grad():
        assert torch.allclose(out["x_hat"], mixed.eval()(x)["x_hat"], atol=1e-5)
    assert torch.allclose(out["likelihoods"]["y"], mixed.entropy.likelihood(y_tilde))
    # and the straight-through gradient reaches the analysis transform
    ((out["x_hat"] - x) ** 2).sum().backward()
    assert mixed.g_a[0].weight.grad is not None and float(mixed.g_a[0].weight.grad.abs().sum()) > 0


def test_prepare_coding_changes_only_the_synthesis_and_lowers_the_rounded_distortion():
    codec = _codec(spread=3.0)
    x = torch.randn(2048, 2, generator=torch.Generator().manual_seed(4))
    before = {k: v.clone() for k, v in codec.state_dict().items()}

    def distortion() -> float:
        with torch.no_grad():
            return float(((codec(x)["x_hat"] - x) ** 2).sum(-1).mean())

    d0, k0 = distortion(), codec.symbols(x)
    codec.prepare_coding(x, steps=100, lr=1e-2)
    after = codec.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("g_s.") for k in changed)
    assert torch.equal(codec.symbols(x), k0)  # same cells, same rate
    assert distortion() < d0
    with pytest.raises(ValueError, match="shape"):
        codec.prepare_coding(torch.randn(8, 3))


def test_options_are_checked_and_kept():
    entry = CODECS.get("ntc")
    assert entry.obj is NTCCodec and "vector" in entry.tags
    codec = get_codec("ntc", 3, hidden=5, latent=2, quantization="mixed")
    assert codec.config == {"dim": 3, "hidden": 5, "latent": 2, "quantization": "mixed"}
    x = torch.randn(7, 3)
    assert codec.eval()(x)["likelihoods"]["y"].shape == (7, 2) and codec.symbols(x).shape == (2, 7)
    assert NTCCodec(4).config["latent"] == 4 and NTCCodec(4).config["quantization"] == "noise"
    for bad in (dict(dim=0), dict(dim=True), dict(dim=2, hidden=0), dict(dim=2, latent=0), dict(dim=2, latent=1.5)):
        with pytest.raises(ValueError):
            NTCCodec(**bad)
    with pytest.raises(ValueError, match="quantization"):
        NTCCodec(2, quantization="round")
    with pytest.raises(ValueError, match="shape"):
        NTCCodec(2).compress(torch.randn(4, 3))


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.1, 30.0), offset=st.floats(-20.0, 20.0), seed=st.integers(0, 2**16))
def test_the_standardised_codec_is_equivariant_to_the_data_units(scale, offset, seed):
    # x' = a x + b: data_init standardises both to the same input, so with the same weights the codec
    # codes the same symbols, D' = a^2 D, and D + beta R with beta' = a^2 beta is a^2 times the loss, its
    # gradient a^2 times the gradient, to which one Adam step is blind (up to its eps). Without the
    # standardisation an NTC on pixels of 0-16 rounds everything to one cell (digits: zero rate, D = the
    # variance). Tolerances: float32 arithmetic on inputs of size up to ~100.
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(512, 2, generator=gen) * torch.tensor([2.0, 0.5]) + 1
    codecs = []
    for data in (x, scale * x + offset):
        torch.manual_seed(seed)
        codec = NTCCodec(2, hidden=8, standardize=True)
        with torch.no_grad():
            codec.g_a[-1].weight.mul_(5)  # latents over several cells
        codec.data_init(data)
        codecs.append((codec, data))
    (plain, x0), (moved, x1) = codecs
    assert float(moved.x_scale) == pytest.approx(scale * float(plain.x_scale), rel=1e-5)
    assert float((plain.eval().symbols(x0) != moved.eval().symbols(x1)).double().mean()) < 0.01
    with torch.no_grad():
        d0 = ((x0 - plain(x0)["x_hat"]) ** 2).sum(-1).mean()
        d1 = ((x1 - moved(x1)["x_hat"]) ** 2).sum(-1).mean()
    assert float(d1) == pytest.approx(scale**2 * float(d0), rel=1e-3)
    # one Adam step on D + beta R (uniform-noise proxy, same noise) moves both codecs alike
    for (codec, data), beta in zip(codecs, (0.3, 0.3 * scale**2)):
        codec.train()
        # eps 1e-30, not 1e-8: Adam's step is blind to the gradient's scale only where |g| >> eps, and at
        # a = 0.1 the scaled gradients of some weights are ~1e-9
        opt = torch.optim.Adam(codec.parameters(), lr=1e-2, eps=1e-30)
        out = codec(data, torch.Generator().manual_seed(1))
        loss = ((data - out["x_hat"]) ** 2).sum(-1).mean() - beta * torch.log(out["likelihoods"]["y"]).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p0, p1 in zip(plain.g_a.parameters(), moved.g_a.parameters()):
        assert torch.allclose(p0, p1, rtol=1e-3, atol=1e-4)


def test_data_init_refuses_what_it_cannot_standardise():
    with pytest.raises(ValueError, match=r"shape \(n >= 2, 2\)"):
        NTCCodec(2, standardize=True).data_init(torch.zeros(1, 2))


def test_without_standardize_data_init_leaves_the_input_as_it_is():
    codec = NTCCodec(2)
    codec.data_init(torch.randn(64, 2) * 5 + 1)
    assert float(codec.x_scale) == 1.0 and codec.x_mean.abs().max() == 0 and "standardize" not in codec.config


def test_weights_saved_before_the_standardisation_load_as_the_identity():
    state = {k: v for k, v in NTCCodec(2, hidden=8).state_dict().items() if not k.startswith("x_")}
    codec = NTCCodec(2, hidden=8, standardize=True)
    codec.data_init(torch.randn(64, 2) * 5 + 1)
    codec.load_state_dict(state)
    assert float(codec.x_scale) == 1.0 and codec.x_mean.abs().max() == 0
