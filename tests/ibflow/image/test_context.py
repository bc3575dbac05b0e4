"""The context entropy model: its passes partition the coded elements, it is causal, its training rate is the
coded rate, and the ImageFlowCodec's context bitstream decodes exactly at its ideal length."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow.entropy.categorical import coded_log_pmf, quantized_pmf, quantized_pmf_rows
from ibflow.entropy.gaussian_conditional import gaussian_bin_mass, gaussian_tables
from ibflow.image.context import ContextEntropyModel, channel_groups, checkerboard

SETTINGS = settings(deadline=None, max_examples=25)
seeds = st.integers(0, 2**31 - 1)


def _perturbed(types: int, seed: int, hidden: int = 8) -> ContextEntropyModel:
    """A model whose CNN is away from its zero start, so that the context matters."""
    torch.manual_seed(seed)
    model = ContextEntropyModel(types, hidden)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape))
        model.set_order(torch.randn(types))
    return model


@given(st.integers(1, 400))
def test_channel_groups_cut_the_order_into_at_most_five_nonempty_runs(n):
    order = list(np.random.default_rng(n).permutation(n))
    groups = channel_groups(order)
    assert [t for g in groups for t in g] == order
    assert all(groups) and len(groups) == min(n, 5)
    if n >= 16:  # ELIC's shares, to within one type
        assert [len(g) for g in groups] == pytest.approx([n / 16, n / 16, n / 8, n / 4, n / 2], abs=1)


@SETTINGS
@given(st.integers(1, 12), st.integers(1, 7), st.integers(1, 7), seeds)
def test_the_passes_code_every_coded_element_once_and_only_after_its_context(types, h, w, seed):
    coded = torch.rand(types, generator=torch.Generator().manual_seed(seed)) < 0.7
    model = _perturbed(types, seed)
    known, target = model.masks(coded, h, w)
    counts = target.sum(0)
    assert torch.equal(counts, coded.view(-1, 1, 1).expand(-1, h, w).long())  # every coded element once
    done = torch.zeros(types, h, w, dtype=torch.bool)
    for j in range(len(target)):
        assert torch.equal(known[j], done) and not bool((known[j] & target[j]).any())
        done |= target[j]
    anchors = checkerboard(h, w)
    for j, (group, parity) in enumerate(model.passes(coded)):
        assert bool((target[j][group] == (anchors if parity == 0 else ~anchors)).all())


@SETTINGS
@given(st.integers(2, 10), st.integers(2, 6), st.integers(2, 6), seeds)
def test_a_pass_sees_nothing_it_is_not_told(types, h, w, seed):
    """The prediction for each pass's targets is the same whatever the not-yet-decoded values are."""
    model = _perturbed(types, seed)
    coded = torch.ones(types, dtype=torch.bool)
    known, target = model.masks(coded, h, w)
    generator = torch.Generator().manual_seed(seed)
    values = 3 * torch.randn(1, types, h, w, generator=generator)
    other = 3 * torch.randn(values.shape, generator=generator)
    for j in range(len(target)):
        (m1, s1), (m2, s2) = (model.predict(v, known[j][None]) for v in (values, torch.where(known[j][None], values, other)))
        assert torch.equal(m1[0][target[j]], m2[0][target[j]]) and torch.equal(s1[0][target[j]], s2[0][target[j]])


@SETTINGS
@given(st.floats(-3, 3), st.floats(0.05, 20), st.floats(-0.5, 0.5), st.integers(-6, 0), st.integers(0, 6))
def test_gaussian_tables_are_the_bin_masses_with_the_tails_folded_in(mean, scale, d, low, high):
    high = max(high, low + 1)
    m, s, dd = (torch.tensor([v], dtype=torch.float64) for v in (mean, scale, d))
    table = gaussian_tables(m, s, dd, low, high)[0]
    assert table.sum() == pytest.approx(1, abs=1e-12) and (table >= 1e-9 * 0.99).all()
    k = torch.arange(low, high + 1, dtype=torch.float64)
    cdf = lambda edge: torch.special.ndtr((edge - mean) / scale).numpy()  # noqa: E731
    # the bins centred on k + d; the end symbols also hold the tails; the 1e-9 floor moves a mass by at most that
    expected = cdf(k + d + 0.5) - cdf(k + d - 0.5)
    expected[0], expected[-1] = cdf(k[:1] + d + 0.5)[0], 1 - cdf(k[-1:] + d - 0.5)[0]
    np.testing.assert_allclose(table, expected, rtol=1e-8, atol=1e-9 * len(k))


def test_quantized_rows_are_the_one_table_quantization_row_by_row():
    rng = np.random.default_rng(0)
    tables = rng.dirichlet(np.full(7, 0.3), size=50)
    rows = quantized_pmf_rows(tables)
    assert all(np.array_equal(rows[i], quantized_pmf(tables[i])) for i in range(len(tables)))


def _codec(entropy: str, seed: int = 0, coded_fraction: float = 1.0):
    from ibflow.image import ImageFlowCodec

    torch.manual_seed(seed)
    codec = ImageFlowCodec(levels=2, steps=1, hidden=8, sigma=0.1, entropy=entropy)
    crops = torch.rand(16, 3, 16, 16)
    codec.data_init(crops[:8])
    codec.fit_entropy_model(crops, steps=10)
    if codec.context is not None:
        with torch.no_grad():
            for p in codec.context.net.parameters():
                p.add_(0.1 * torch.randn(p.shape))
    if coded_fraction < 1:
        codec.coded.copy_(torch.rand(len(codec.coded)) < coded_fraction)
    return codec.eval()


@settings(deadline=None, max_examples=10)
@given(st.sampled_from([(16, 16), (16, 28), (24, 8), (4, 4)]), st.sampled_from([1.0, 0.5]), seeds)
def test_the_context_bitstream_decodes_exactly_at_its_ideal_length(size, fraction, seed):
    """Round trip symbol for symbol; the ANS payload is the coded-probability code length plus at most
    two 32-bit words (the coder's final state)."""
    from ibflow.entropy import unpack

    codec = _codec("context", seed % 3, fraction)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(seed))
    stream = codec.compress(x)
    k = codec.symbols(x)
    assert torch.equal(codec.decompress_symbols(stream["strings"], stream["shape"]), k)
    payload_bits = 8 * len(unpack(stream["strings"][0], "imageflow", codec.config, stream["shape"]).payload)
    ideal = codec.code_length(k) / math.log(2)
    assert ideal - 1e-6 <= payload_bits <= ideal + 64


def test_the_training_rate_is_the_coded_rate():
    """At y~ = k + d, the training likelihood of every coded element is the coder's table entry for k
    (float32 against float64 evaluation: rel 1e-4, and abs 1e-6 since a difference of two float32
    cumulatives near 1 resolves a mass to about 1e-7), except that the two end symbols of the range
    also hold the tails (so their entries are larger). (The round-trip test checks the payload against
    the code length under the coder's quantized tables.)"""
    codec = _codec("context", 1)
    x = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    k = codec.symbols(x)
    full, dither = codec._context_inputs(k)
    with torch.no_grad():
        mass = codec.context.likelihood(full.float() + dither, codec.coded, codec.latent_model.likelihood)
    low, high = int(k.min()), max(int(k.max()), int(k.min()) + 1)
    decoded = full.float() + dither
    ends = 0
    for t, where, table in codec.context.tables(decoded, dither, codec.coded, codec._first_tables, low, high):
        symbols = full[0, t][where].numpy()
        entries = table[np.arange(len(symbols)), symbols - low]
        training = mass[0, t][where].double().numpy()
        inside = (symbols > low) & (symbols < high)
        np.testing.assert_allclose(entries[inside], training[inside], rtol=1e-4, atol=1e-6)
        assert (entries[~inside] >= training[~inside] * (1 - 1e-4)).all()
        ends += int((~inside).sum())
    assert 0 < ends < k.numel() // 2  # both kinds of symbol were checked


def test_the_dithered_code_length_is_the_expected_training_rate():
    """Universal quantization (Ziv 1985): over the dither, -log P(round(y - d) | d) has the law of
    -log mass(y + u). 20,000 draws of y ~ N(0.3, 1.7^2) coded under N(0, 2^2); the means agree within
    4 standard errors of their difference (each draw independent)."""
    generator = torch.Generator().manual_seed(0)
    n = 20_000
    y = 0.3 + 1.7 * torch.randn(n, generator=generator, dtype=torch.float64)
    d = torch.rand(n, generator=generator, dtype=torch.float64) - 0.5
    u = torch.rand(n, generator=generator, dtype=torch.float64) - 0.5
    mean, scale = torch.zeros(n, dtype=torch.float64), torch.full((n,), 2.0, dtype=torch.float64)
    k = torch.round(y - d).long()
    low, high = int(k.min()), int(k.max())
    tables = gaussian_tables(mean, scale, d, low, high)
    coded = -np.log(tables[np.arange(n), (k - low).numpy()])
    training = -gaussian_bin_mass(y + u, mean, scale).log().numpy()
    se = math.sqrt(coded.var() / n + training.var() / n)
    assert abs(coded.mean() - training.mean()) < 4 * se
    assert coded_log_pmf(tables[0]).shape == tables[0].shape  # the coder's probabilities exist for every symbol


def test_a_damaged_context_stream_is_refused():
    codec = _codec("context", 2)
    stream = codec.compress(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)))
    data = bytearray(stream["strings"][0])
    for i in range(0, len(data), max(1, len(data) // 12)):
        damaged = bytearray(data)
        damaged[i] ^= 0x10
        with pytest.raises(BitstreamError):
            codec.decompress([bytes(damaged)], stream["shape"])


def test_the_context_model_prices_dependent_types_below_the_factorized_one():
    """Two latent types that are one signal (y_1 = y_0 + small noise) and a smooth field: after the same
    fit, the context model's rate is well below the factorized model's (which must pay for y_1 again)."""
    torch.manual_seed(0)
    from ibflow.entropy import FactorizedPrior, fit_factorized_prior

    base = torch.nn.functional.avg_pool2d(torch.randn(64, 1, 24, 24), 3, 1, 1) * 12
    y = torch.cat([base, base + 0.2 * torch.randn_like(base)], dim=1)
    prior = fit_factorized_prior(FactorizedPrior(2), y, steps=300)
    model = ContextEntropyModel(2, hidden=16)
    model.initialise(y)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    coded = torch.ones(2, dtype=torch.bool)
    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        noisy = y + torch.rand(y.shape, generator=generator) - 0.5
        loss = -model.likelihood(noisy, coded, prior.likelihood).log().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    noisy = y + torch.rand(y.shape, generator=generator) - 0.5
    with torch.no_grad():
        context = float(-model.likelihood(noisy, coded, prior.likelihood).log().mean())
        factorized = float(-prior.likelihood(noisy).log().mean())
    assert context < 0.7 * factorized
