"""Factorized entropy model and the quantized codec: masses sum to 1 over the integers, bitstreams decode exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ibflow.entropy import IMAGE_SIDE_BYTES, overhead_bytes, stream_bytes, unpack
from ibflow.entropy.factorized import (
    FactorizedPrior,
    channel_code_length,
    decode_channels,
    encode_channels,
    fit_factorized_prior,
)
from ibflow.image import QuantizedImageCodec

SETTINGS = settings(deadline=None, max_examples=10)
seeds = st.integers(0, 2**31 - 1)


def random_prior(channels: int, seed: int) -> FactorizedPrior:
    """A prior moved away from its initialisation, so each channel has its own shape."""
    torch.manual_seed(seed)
    prior = FactorizedPrior(channels)
    with torch.no_grad():
        for p in prior.parameters():
            p.add_(0.5 * torch.randn(p.shape))
    return prior


@given(channels=st.integers(1, 5), seed=seeds)
@SETTINGS
def test_likelihoods_sum_to_one_over_the_integers(channels, seed):
    prior = random_prior(channels, seed)
    k = torch.arange(-400, 401, dtype=torch.float32)
    y = k.view(-1, 1).expand(-1, channels)  # (N, C): every integer in every channel
    total = prior.likelihood(y).double().sum(0)
    torch.testing.assert_close(total, torch.ones(channels, dtype=torch.float64), atol=2e-4, rtol=0)
    # the probabilities of the coder's table sum to 1 exactly (tails folded into the end symbols)
    table = prior.pmf_table(-20, 20)
    assert table.shape == (channels, 41)
    assert abs(table.sum(1) - 1).max() < 1e-12 and (table >= 0).all()


def test_likelihood_shapes_and_gradient():
    prior = FactorizedPrior(3)
    y = torch.randn(2, 3, 4, 5, requires_grad=True)
    p = prior.likelihood(y)
    assert p.shape == y.shape and bool((p > 0).all() and (p <= 1).all())
    p.log().sum().backward()
    assert y.grad is not None and all(q.grad is not None for q in prior.parameters())
    assert prior.likelihood(torch.zeros(7, 3)).shape == (7, 3)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        prior.likelihood(torch.zeros(7, 4))


def test_fitting_lowers_the_code_length():
    torch.manual_seed(0)
    latents = 3 * torch.randn(4096, 2) + torch.tensor([0.0, 5.0])
    prior = FactorizedPrior(2)
    before = -prior.likelihood(latents.round()).log().mean()
    fit_factorized_prior(prior, latents, steps=150)
    after = -prior.likelihood(latents.round()).log().mean()
    # entropy of a rounded N(0, 9) is about 0.5 log(2 pi e 9) = 2.52 nats
    assert after < before and after < 2.7


@given(channels=st.integers(1, 4), n=st.integers(1, 300), seed=seeds)
@SETTINGS
def test_channel_bitstream_round_trip_is_exact(channels, n, seed):
    prior = random_prior(channels, seed)
    generator = torch.Generator().manual_seed(seed)
    k = (4 * torch.randn(channels, n, generator=generator)).round().to(torch.int64)
    k[0, 0] = 60  # a far-tail symbol still decodes (leaky Categorical: no zero probabilities)
    words, low, high = encode_channels(prior, k)
    assert (low, high) == (int(k.min()), max(int(k.max()), int(k.min()) + 1))
    assert torch.equal(decode_channels(prior, words, low, high, n), k)


@given(channels=st.integers(1, 3), n=st.integers(1, 200), seed=seeds)
@SETTINGS
def test_dithered_channel_bitstream_round_trip_is_exact(channels, n, seed):
    prior = random_prior(channels, seed)
    generator = torch.Generator().manual_seed(seed)
    y = 4 * torch.randn(channels, n, generator=generator)
    d = torch.rand(channels, n, generator=generator) - 0.5
    k = (y - d).round().to(torch.int64)
    words, low, high = encode_channels(prior, k, d)
    assert torch.equal(decode_channels(prior, words, low, high, n, d), k)
    # one table per element, P(k | d): the bin masses at k + d, tails folded in, each row sums to 1
    table = prior.pmf_table(low, high, d)
    assert table.shape == (channels, n, high - low + 1) and abs(table.sum(-1) - 1).max() < 1e-12
    inner = torch.from_numpy(table[:, :, 1:-1])
    if inner.numel():
        grid = torch.arange(low + 1, high, dtype=torch.float32).view(1, 1, -1) + d.unsqueeze(-1)
        mass = prior.likelihood(grid.reshape(channels, -1).T).T.reshape(inner.shape).double()
        torch.testing.assert_close(inner, mass.detach(), atol=1e-6, rtol=1e-4)
    # a zero dither gives the plain table in every row. The prior's logits are float32 and the two calls
    # batch them in different shapes, which BLAS may round differently (a few float32 ulps, seen up to 12
    # here): the tables agree to float32 precision, not bitwise; rtol 1e-5 is about 80 float32 ulps
    zero = prior.pmf_table(low, high, torch.zeros(channels, 2))
    np.testing.assert_allclose(zero[:, 0], prior.pmf_table(low, high), rtol=1e-5, atol=1e-12)
    length = channel_code_length(prior, k, d)
    assert 8 * words.nbytes >= 0.99 * length / math.log(2) - 32


@given(channels=st.integers(2, 5), n=st.integers(1, 100), seed=seeds, data=st.data())
@SETTINGS
def test_a_subset_of_channels_codes_under_its_own_tables(channels, n, seed, data):
    """Rows coded with ``index`` use those channels' tables (the code length says so) and decode exactly;
    no rows give an empty stream; an index outside the prior is refused."""
    prior = random_prior(channels, seed)
    index = data.draw(st.lists(st.integers(0, channels - 1), min_size=1, max_size=channels, unique=True))
    generator = torch.Generator().manual_seed(seed)
    k = (3 * torch.randn(len(index), n, generator=generator)).round().to(torch.int64)
    d = torch.rand(len(index), n, generator=generator) - 0.5
    words, low, high = encode_channels(prior, k, d, index)
    assert torch.equal(decode_channels(prior, words, low, high, n, d, index), k)
    # row r is coded under channel index[r]'s table P(k | d) over the stream's range [low, high]
    expected = sum(-float(np.log(prior.pmf_table(low, high, d[r : r + 1], slice(c, c + 1))[0][
        np.arange(n), (k[r] - low).numpy()]).sum()) for r, c in enumerate(index))
    assert channel_code_length(prior, k, d, index) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    empty = torch.empty(0, n, dtype=torch.int64)
    words, low, high = encode_channels(prior, empty, torch.empty(0, n), [])
    assert words.size == 0 and decode_channels(prior, words, low, high, n, torch.empty(0, n), []).shape == (0, n)
    with pytest.raises(ValueError, match="index must name"):
        encode_channels(prior, k, d, [channels] * len(index))


def test_quantized_codec_bitstream_round_trip_is_exact():
    torch.manual_seed(0)
    codec = QuantizedImageCodec(hidden=8, latent=6).eval()
    x = torch.rand(1, 3, 16, 24)
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert k.shape == (1, 6, 2, 3)
    payload = unpack(stream["strings"][0], "quantized-image", codec.config, stream["shape"]).payload
    assert len(stream["strings"]) == 1 and len(payload) % 4 == 0
    assert stream_bytes(stream["strings"]) == overhead_bytes("quantized-image", 2, IMAGE_SIDE_BYTES) + len(payload) == 59 + len(payload)
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    x_hat = codec.decompress(stream["strings"], stream["shape"])["x_hat"]
    assert x_hat.shape == x.shape and bool((x_hat >= 0).all() and (x_hat <= 1).all())
    parts = codec.loss(torch.rand(2, 3, 16, 16), beta=1e-3)
    assert parts.total.shape == () and float(parts.rate.detach()) > 0
    with pytest.raises(ValueError, match="one image"):
        codec.compress(torch.rand(2, 3, 16, 16))
