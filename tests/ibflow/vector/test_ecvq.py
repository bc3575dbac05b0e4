"""ECVQCodec: the Lloyd objective never increases, the fast 1-D rule is the argmin, bitstreams decode to
forward's output exactly, fitted state survives a checkpoint, bad options are named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import ECVQCodec, get_codec
from ibflow.entropy import OVERHEAD_BYTES, TABLE_DIGEST_BYTES, categorical_code_length, coded_log_pmf, stream_bytes
from ibflow.vector.ecsq import gaussian_ecsq
from ibflow.vector.ecvq import ecvq_lloyd, product_start
from ibflow.vector.lagrangian import brute_force_assign, lagrangian_assign
from ibflow.vector.scalar_fit import fit_scalar_quantizer
from synthetic import get_source

seeds = st.integers(0, 2**31 - 1)


def _laplace(n: int, dim: int, seed: int) -> torch.Tensor:
    return get_source("laplace", dim=dim).sample(n, seed=seed)


def _fitted(dim: int = 2, beta: float = 0.2, n: int = 4000, seed: int = 0, **options) -> ECVQCodec:
    codec = ECVQCodec(dim, **{"codewords": 128, **options})
    codec.fit(_laplace(n, dim, seed), beta)
    return codec


@given(dim=st.integers(1, 3), beta=st.floats(0.01, 2.0), seed=seeds, codewords=st.integers(1, 96))
@settings(max_examples=15)
def test_lloyd_objective_never_increases(dim, beta, seed, codewords):
    x = _laplace(1500, dim, seed).double()
    start = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:codewords]]
    initial = torch.rand(len(start), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.1 if seed % 2 else None
    result = ecvq_lloyd(x, beta, start, iterations=60, tolerance=0.0, pmf=initial)
    J = np.array(result.objective)
    # each half-step minimises J exactly; float64 sums of 1500 terms leave relative rounding far below 1e-12
    assert np.all(np.diff(J) <= 1e-12 * J[:-1])
    assert torch.isclose(result.pmf.sum(), torch.tensor(1.0, dtype=torch.float64)) and bool((result.pmf > 0).all())
    # one more assignment step under the final codebook and pmf does not raise J either
    k = lagrangian_assign(x, result.codebook, -torch.log(result.pmf), beta)
    again = ((x - result.codebook[k]) ** 2).sum(1).mean() - beta * torch.log(result.pmf[k]).mean()
    assert float(again) <= J[-1] * (1 + 1e-12)


@given(n_codewords=st.integers(1, 40), beta=st.floats(0.0, 3.0), seed=seeds)
def test_the_1d_intervals_are_the_argmin(n_codewords, beta, seed):
    """In 1-D the rule follows the lower envelope of lines; its cost equals the brute-force minimum (ties
    aside, which is why costs, not indices, are compared)."""
    gen = torch.Generator().manual_seed(seed)
    c = torch.randn(n_codewords, 1, generator=gen, dtype=torch.float64) * 2
    if n_codewords > 2:
        c[1] = c[0]  # a duplicate codeword
    lengths = torch.rand(n_codewords, generator=gen, dtype=torch.float64) * 6
    x = torch.randn(3000, 1, generator=gen, dtype=torch.float64) * 3
    cost = ((x - c.T) ** 2) + beta * lengths
    fast, brute = lagrangian_assign(x, c, lengths, beta), brute_force_assign(x, c, lengths, beta)
    rows = torch.arange(len(x))
    torch.testing.assert_close(cost[rows, fast], cost[rows, brute], rtol=0, atol=1e-12)


@given(dim=st.integers(2, 4), n_codewords=st.integers(1, 300), seed=seeds)
@settings(max_examples=10)
def test_the_blocked_rule_is_the_argmin(dim, n_codewords, seed):
    gen = torch.Generator().manual_seed(seed)
    c = torch.randn(n_codewords, dim, generator=gen, dtype=torch.float64)
    lengths = torch.rand(n_codewords, generator=gen, dtype=torch.float64) * 4
    x = torch.randn(2000, dim, generator=gen)
    cost = ((x.double()[:, None] - c[None]) ** 2).sum(-1) + 0.3 * lengths
    rows = torch.arange(len(x))
    fast, brute = lagrangian_assign(x, c, lengths, 0.3), brute_force_assign(x, c, lengths, 0.3)
    torch.testing.assert_close(cost[rows, fast], cost[rows, brute], rtol=0, atol=1e-9)


def test_blocks_of_rows_cover_every_row(monkeypatch):
    monkeypatch.setattr("ibflow.vector.lagrangian.CHUNK_ELEMENTS", 7 * 5)  # 7 rows per block against 5 codewords
    gen = torch.Generator().manual_seed(3)
    c, x = torch.randn(5, 2, generator=gen, dtype=torch.float64), torch.randn(100, 2, generator=gen)
    assert torch.equal(lagrangian_assign(x, c, torch.zeros(5), 0.0), brute_force_assign(x, c, torch.zeros(5), 0.0))


@pytest.mark.parametrize("dim", [1, 2])
def test_round_trip_is_exact_and_the_bytes_are_the_code_length(dim):
    codec = _fitted(dim)
    x = _laplace(3000, dim, seed=99)  # fresh samples, some beyond the training range
    stream = codec.compress(x)
    out = codec(x)
    assert torch.equal(codec.decompress(**stream)["x_hat"], out["x_hat"])
    k = codec.symbols(x)
    assert torch.equal(codec.decompress_symbols(**stream), k)
    assert torch.equal(out["x_hat"], codec.codebook[k].float())
    # forward's likelihood is the coded probability, so its -log is the ideal code length of the stream
    ideal = categorical_code_length(k.numpy(), codec.pmf.numpy())
    torch.testing.assert_close(-out["likelihoods"]["index"].double().log().sum(), torch.tensor(ideal, dtype=torch.float64), rtol=1e-6, atol=0)
    payload_bits = 8 * (stream_bytes(stream["strings"]) - OVERHEAD_BYTES - len("ecvq") - 4 - TABLE_DIGEST_BYTES)
    assert ideal / math.log(2) - 1e-6 <= payload_bits + 32 and payload_bits <= ideal / math.log(2) + 64


@pytest.mark.parametrize("dim", [1, 2])
def test_from_the_product_start_lloyd_ends_no_worse_than_the_product_scalar_quantizer(dim):
    """From the product of the coordinates' best scalar quantizers (every cell kept), the first assignment
    can keep each sample's product cell, so J starts at most at the product's J = sum of the scalar
    objectives, and never increases after that."""
    x = _laplace(6000, dim, seed=11)
    beta = 0.15
    scalar = sum(fit_scalar_quantizer((x[:, i] - x[:, i].mean()).double().numpy(), beta).objective for i in range(dim))
    codec = ECVQCodec(dim, codewords=2**16)  # room for the whole product
    codec.fit(x, beta)
    assert codec.history[0] <= scalar + 1e-12 and codec.history[-1] <= codec.history[0]
    codebook, pmf = product_start(x, beta, limit=5)
    assert len(codebook) == 5 and bool((pmf[:-1] >= pmf[1:]).all())  # the most probable cells, in order


def test_encoding_uses_the_coded_code_lengths_and_the_fitted_beta():
    codec = _fitted(1, beta=0.5)
    x = torch.linspace(-6, 6, 5001).unsqueeze(1)
    lengths = torch.from_numpy(-coded_log_pmf(codec.pmf.numpy()))
    assert torch.equal(codec.symbols(x), brute_force_assign(x, codec.codebook, lengths, 0.5))
    assert float(codec.beta) == 0.5 and len(codec.history) >= 2


def test_a_single_codeword_costs_no_payload():
    codec = ECVQCodec(2, codewords=1)
    x = _laplace(500, 2, seed=1)
    codec.fit(x, 1.0)
    torch.testing.assert_close(codec.codebook[0], x.double().mean(0))
    stream = codec.compress(x)
    assert len(stream["strings"][0]) == OVERHEAD_BYTES + len("ecvq") + 4 + TABLE_DIGEST_BYTES
    assert torch.equal(codec.decompress(**stream)["x_hat"], codec(x)["x_hat"])


def test_a_stream_of_another_fit_is_refused():
    a, b = _fitted(2, beta=0.2), _fitted(2, beta=0.3)
    assert a.config == b.config  # the container's config hash cannot tell them apart; the side information does
    stream = a.compress(_laplace(50, 2, seed=5))
    with pytest.raises(BitstreamError, match="model mismatch"):
        b.decompress(**stream)


def test_fitted_state_survives_a_state_dict_into_a_fresh_codec():
    codec = _fitted(2)
    fresh = get_codec("ecvq", 2, codewords=128)
    assert fresh.codebook.shape != codec.codebook.shape  # fit dropped codewords; loading resizes
    fresh.load_state_dict(codec.state_dict())
    x = _laplace(200, 2, seed=7)
    assert torch.equal(fresh(x)["x_hat"], codec(x)["x_hat"])
    assert fresh.compress(x)["strings"] == codec.compress(x)["strings"]


def test_1d_ecvq_is_close_to_the_best_scalar_quantizer():
    """In 1-D an ECVQ is a scalar quantizer, and Lloyd's algorithm from many codewords ends within a hair of
    the best one (Chou, Lookabaugh & Gray 1989, sec. V). Measured on fresh samples: the Lagrangian
    D + beta (-log q) per sample against min_D D + beta R_ecsq(D) of N(0, 1). The tolerance is 4 standard
    errors of the per-sample Lagrangian plus 0.002 nat: the excess of fitting K' ~ 8 centroids and masses
    to 2^15 samples is about K' / n ~ 3e-4 nat, the rest allows a slightly worse local optimum."""
    beta = 0.2
    codec = ECVQCodec(1, codewords=256)
    codec.fit(torch.randn(2**15, 1, generator=torch.Generator().manual_seed(0)), beta)
    x = torch.randn(2**16, 1, generator=torch.Generator().manual_seed(1))
    out = codec(x)
    per_sample = ((x - out["x_hat"]) ** 2).sum(1).double() - beta * out["likelihoods"]["index"].double().log()
    curve = gaussian_ecsq(1.0, points=2**17, steps=200, ratios=31)
    best = float(np.min(curve.distortion + beta * curve.rate))
    se = float(per_sample.std() / math.sqrt(len(x)))
    assert float(per_sample.mean()) <= best + 4 * se + 0.002


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"codewords": 0}, r"codewords must be an integer in \[1, 65536\], got 0"),
        ({"codewords": 70000}, r"codewords must be an integer in \[1, 65536\]"),
        ({"codewords": 2.5}, "codewords must be an integer"),
        ({"iterations": 0}, r"iterations must be an integer in \[1,"),
        ({"tolerance": -1e-3}, r"tolerance must be a number in \[0, 1\)"),
        ({"init_seed": -1}, "init_seed must be an integer"),
        ({"init": "kmeans"}, "init must be 'product' or 'subset'"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        ECVQCodec(2, **options)


def test_bad_fit_arguments_and_inputs_are_named():
    codec = ECVQCodec(2, codewords=8)
    for beta in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"beta must be a finite number > 0"):
            codec.fit(torch.randn(10, 2), beta)
    for x in (torch.randn(10, 3), torch.randn(10), torch.ones(10, 2, dtype=torch.int64)):
        with pytest.raises(ValueError, match=r"x must be a (tensor of shape \(n, 2\)|finite floating)"):
            codec.fit(x, 0.1)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        codec.compress(torch.randn(4, 1))
    with pytest.raises(ValueError, match="finite"):
        codec(torch.tensor([[0.0, float("nan")]]))
