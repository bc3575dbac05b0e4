"""Coset codes (binning): the candidates of a symbol are its coset, the dithered quantizer's error is
uniform and independent of the latent, an oracle decoder never errs, and the Wyner-Ziv FlowCodec's
stream round-trips, refuses corruption and another code's streams, and survives a checkpoint.

Statistical tolerances are stated at each assert as multiples of the standard error (SE); hypothesis
runs derandomized (conftest.py), so every case is fixed.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from contracts import BitstreamError
from ibflow import load_checkpoint, save_checkpoint
from ibflow.vector import WynerZivFlowCodec, fit_wyner_ziv_coding, measure_wyner_ziv_coding
from ibflow.vector.binning import (
    MAX_CANDIDATES,
    CosetCode,
    code_rows,
    design_coset_code,
    resolve,
)
from ibflow.vector.rates import conditional_sandwich_terms
from synthetic.distributed import wz_gaussian_test_channel
from synthetic.sources import GaussianSideInformation
from tests.ibflow.vector.test_wyner_ziv import _linear_gaussian_codec


def _uniform(modulus: int | None, low: int, high: int, delta: float = 0.5, seed: int = 0) -> CosetCode:
    alphabet = modulus if modulus is not None else high - low + 1
    return CosetCode(delta, modulus, low, high, (1.0 / alphabet,) * alphabet, seed)


@given(low=st.integers(-50, 0), span=st.integers(2, 60), modulus=st.integers(1, 60), dims=st.integers(1, 2))
def test_the_candidates_of_a_symbol_are_exactly_its_coset_in_range(low: int, span: int, modulus: int, dims: int) -> None:
    high = low + span
    modulus = min(modulus, span)
    code = _uniform(modulus, low, high)
    k = torch.randint(low, high + 1, (40, dims), generator=torch.Generator().manual_seed(span))
    s = code.symbol(k)
    assert bool(((s >= 0) & (s < modulus)).all())
    cands = code.candidates(s)
    assert bool(((cands >= low) & (cands <= high)).all())
    assert torch.equal(code.symbol(cands), s[:, None, :].expand_as(cands))
    for row in range(len(k)):
        # every in-range member of the coset appears, per coordinate, and the true index is among them
        for c in range(dims):
            members = {int(v) for v in range(low, high + 1) if (v - low) % modulus == int(s[row, c])}
            assert {int(v) for v in cands[row, :, c]} == members
        assert bool((cands[row] == k[row]).all(dim=1).any())


def test_too_many_candidates_and_bad_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="MAX_CANDIDATES"):
        _uniform(2, -200, 200).candidates(torch.zeros(1, 2, dtype=torch.int64))  # 201^2 > MAX_CANDIDATES
    assert 201**2 > MAX_CANDIDATES
    for kwargs, match in [
        (dict(delta=0.0, modulus=2, low=0, high=4, pmf=(0.5, 0.5)), "delta must"),
        (dict(delta=1.0, modulus=2, low=4, high=4, pmf=(0.5, 0.5)), "low < high"),
        (dict(delta=1.0, modulus=9, low=0, high=4, pmf=(0.5,) * 9), "modulus must"),
        (dict(delta=1.0, modulus=2, low=0, high=4, pmf=(1.0,)), "pmf must hold 2"),
        (dict(delta=1.0, modulus=2, low=0, high=4, pmf=(1.0, 0.0)), "pmf must hold 2"),
    ]:
        with pytest.raises(ValueError, match=match):
            CosetCode(**kwargs)


def test_the_dithered_error_is_uniform_and_independent_of_the_latent() -> None:
    n, delta = 200_000, 0.7
    e = 3 * torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    code = _uniform(None, -100, 100, delta=delta)
    t = code.dither(n, 1)
    assert torch.equal(t, code.dither(n, 1))  # both ends draw the same dither
    k, clipped = code.quantize(e, t)
    err = (code.reconstruct(k, t) - e)[:, 0]
    assert clipped == 0 and float(err.abs().max()) <= delta / 2 + 1e-12
    # uniform on [-delta/2, delta/2]: mean 0 (SE delta / sqrt(12 n)) and variance delta^2 / 12 (SE of a
    # sample variance of a uniform: sqrt((mu4 - s^4) / n) = s^2 sqrt(0.8 / n)); 4 SE each
    s2 = delta**2 / 12
    assert abs(float(err.mean())) < 4 * math.sqrt(s2 / n)
    assert abs(float(err.var()) - s2) < 4 * s2 * math.sqrt(0.8 / n)
    # independent of e: the sample correlation has SE 1 / sqrt(n); so has that of |err| with |e|
    for a, b in ((err, e[:, 0]), (err.abs(), e[:, 0].abs())):
        assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 4 / math.sqrt(n)


@given(modulus=st.integers(2, 12), delta=st.floats(0.1, 3.0), seed=st.integers(0, 1000))
def test_a_decoder_that_knows_the_latent_never_picks_a_wrong_coset(modulus: int, delta: float, seed: int) -> None:
    # the true index's z_hat is within delta / 2 of e, every other member of its coset at least
    # (modulus - 1/2) delta >= 1.5 delta away: a score peaked at e always picks the true index
    e = 4 * torch.randn(500, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    # a modulus needs an index range at least as wide (design_coset_code refuses one beyond it): a wide delta
    # with a large modulus can leave fewer indices than that, which is a refused case, not this property's
    assume(float(e.max() - e.min()) >= (modulus + 1) * delta)
    code = design_coset_code(e, delta, modulus, seed)
    rows = code_rows(code, e, lambda z, r: -((z - e[r][:, None, :]) ** 2).sum(-1))
    assert torch.equal(rows.k_hat, rows.k)
    # and modulus 1 sends nothing: the decoder then takes the index nearest e alone
    one = design_coset_code(e, delta, 1, seed)
    assert one.alphabet == 1
    rows1 = code_rows(one, e, lambda z, r: -((z - e[r][:, None, :]) ** 2).sum(-1))
    assert torch.equal(rows1.k_hat, rows1.k)


def test_resolve_picks_the_highest_scoring_member() -> None:
    code = _uniform(3, -6, 6, delta=1.0)
    s = torch.tensor([[0], [1], [2]])
    t = torch.zeros(3, 1, dtype=torch.float64)
    # score: prefer z near 2.0 for every row; members of 0 (mod 3) from -6: -6, -3, 0, 3, 6 -> 3
    k = resolve(code, s, t, lambda z, r: -((z - 2.0) ** 2).sum(-1))
    assert k[:, 0].tolist() == [3, 1, 2]


# ---------------------------------------------------------------- the Wyner-Ziv stream


def _linear_codec(rho: float, a: float = 1.0, sigma: float = 0.3) -> WynerZivFlowCodec:
    """The exact linear-Gaussian codec of test_wyner_ziv.py (f(x) = a x, the true p(z|y)), in float64,
    its decoder fitted by least squares on 50,000 rows."""
    codec = _linear_gaussian_codec(a, sigma, rho).double()
    with torch.no_grad():
        x, y = codec.split(GaussianSideInformation(rho).sample(50_000, seed=5).double())
        _, z = codec.sample_latent(x, torch.Generator().manual_seed(6))
        codec.fit_decoder(x, z, y)
    return codec.eval()


def test_the_stream_round_trips_and_refuses_corruption_and_other_codes(tmp_path) -> None:
    pair = GaussianSideInformation(0.9)
    codec = _linear_codec(0.9)
    with pytest.raises(ValueError, match="no coset code is set"):
        codec.compress(torch.zeros(3, 1))
    fit_wyner_ziv_coding(codec, pair.sample(4096, seed=1).double(), beta=0.1)
    x, y = codec.split(pair.sample(2000, seed=2).double())
    stream = codec.compress(x)
    out = codec.decompress(stream["strings"], stream["shape"], y)
    code = codec.coset_code
    assert code is not None
    rows = code_rows(code, codec.latent_mean(x), codec.side_scorer(y))
    assert torch.equal(out["index"], rows.k_hat)
    assert out["x_hat"].shape == x.shape
    with pytest.raises(ValueError, match=r"y must have shape \(n, side_dim\) = \(2000, 1\)"):
        codec.decompress(stream["strings"], stream["shape"], y[:10])
    blob = bytearray(stream["strings"][0])
    for i in (0, len(blob) // 2, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x10
        with pytest.raises(BitstreamError):
            codec.decompress([bytes(bad)], stream["shape"], y)
    with pytest.raises(BitstreamError):
        codec.decompress([bytes(blob[:-3])], stream["shape"], y)
    # the same codec with another code (one more bin width) refuses the stream: its digest differs
    other = CosetCode(code.delta * 1.01, code.modulus, code.low, code.high, code.pmf, code.seed)
    codec.set_coset_code(other)
    with pytest.raises(BitstreamError, match="another coset code"):
        codec.decompress(stream["strings"], stream["shape"], y)
    codec.set_coset_code(code)
    # the code is the codec's state: it survives a checkpoint (loaded with weights_only=True)
    save_checkpoint(codec, tmp_path / "wz.pt")
    loaded = load_checkpoint(tmp_path / "wz.pt").double().eval()
    assert loaded.coset_code == code
    assert loaded.compress(x)["strings"] == stream["strings"]


def test_binning_codes_below_the_rate_without_side_information_and_above_the_wyner_ziv_limit() -> None:
    pair = GaussianSideInformation(0.9)
    codec = _linear_codec(0.9)
    code, trials = fit_wyner_ziv_coding(codec, pair.sample(2**14, seed=1).double(), beta=0.1)
    assert code.modulus is not None and code.modulus >= 2 and trials
    m = measure_wyner_ziv_coding(codec, pair.sample(2**16, seed=3).double())
    assert m.decoded_exactly and m.clipped == 0
    D_hi = m.distortion + 4 * m.distortion_se
    # a real code with y at the decoder only cannot beat R_WZ at its distortion (errors included)
    assert m.rate_operational >= pair.wyner_ziv_rd(D_hi)
    # the bytes track the ideal code length: ANS's final state and the container's header, < 100 bytes
    assert 0 <= (m.rate_operational - m.rate_code) * 2**16 / math.log(2) / 8 < 100
    # it uses y: below R(D) without side information at its own distortion (the coset decoding errs on
    # a small fraction of rows, whose cost the distortion carries). Measured (seeds fixed): modulus 3,
    # 1.581 bits at D = 0.0713 with error rate 0.0024, where R(D) = 1.905 bits and R_WZ(D) = 0.707
    assert m.rate_operational < pair.rd_without_side_information(m.distortion) - 0.2 * math.log(2)  # 0.2 bit
    assert m.error_rate < 0.02
    # and never below the Slepian-Wolf rate of its own quantizer beyond the modelling error (the prior is exact)
    assert m.rate_slepian_wolf is not None and m.rate_slepian_wolf <= m.rate_code


@given(a=st.floats(0.5, 3.0), sigma=st.floats(0.2, 1.5), rho=st.floats(-0.95, 0.95))
def test_the_conditional_sandwich_brackets_the_closed_form_rate(a: float, sigma: float, rho: float) -> None:
    pair = GaussianSideInformation(rho)
    codec = _linear_codec(rho, a=a, sigma=sigma)
    n, k = 4096, 128
    x, y = codec.split(pair.sample(n, seed=11).double())
    with torch.no_grad():
        mean, z = codec.sample_latent(x, torch.Generator().manual_seed(12))
        contrast = codec.encode(pair.sample_x_given_y(y, k - 1, seed=13).reshape(-1, 1)).reshape(n, k - 1, 1)
    lo, up = conditional_sandwich_terms(mean, z, contrast, sigma)
    truth, _ = wz_gaussian_test_channel(sigma**2 / a**2, rho=rho)  # I(X; Z | Y) of Z / a = X + W
    assert float(lo.max()) <= math.log(k) + 1e-12  # the lower bound can never exceed log K
    # rows are independent: plain SEs; 4 SE each (25 cases at a one-sided 3e-5)
    se_lo, se_up = float(lo.std()) / math.sqrt(n), float(up.std()) / math.sqrt(n)
    assert float(lo.mean()) <= truth + 4 * se_lo, (float(lo.mean()), truth, se_lo)
    assert float(up.mean()) >= truth - 4 * se_up, (float(up.mean()), truth, se_up)
    # and they are informative where I << log K: within 0.05 nats + 4 SE of the truth for these rates
    if truth < 2.0:
        assert float(up.mean()) - float(lo.mean()) < 0.1 + 4 * (se_lo + se_up), (float(lo.mean()), float(up.mean()), truth)


@given(low=st.integers(-30, 0), span=st.integers(3, 40), modulus=st.integers(1, 40), seed=st.integers(0, 999))
def test_the_decoders_belief_is_a_distribution_over_distinct_members_best_first(low: int, span: int, modulus: int, seed: int) -> None:
    from ibflow.vector.binning import SOFT_CANDIDATES, resolve_soft

    high = low + span
    modulus = min(modulus, span)
    code = _uniform(modulus, low, high)
    gen = torch.Generator().manual_seed(seed)
    k = torch.randint(low, high + 1, (30, 1), generator=gen)
    s, t = code.symbol(k), code.dither(30, 1)
    centre = torch.randn(30, 1, generator=gen, dtype=torch.float64) * span * code.delta / 4

    def score(z: torch.Tensor, rows: slice) -> torch.Tensor:
        return -((z - centre[rows][:, None, :]) ** 2).sum(-1)

    cands, weights = resolve_soft(code, s, t, score)
    assert cands.shape[1] == weights.shape[1] <= SOFT_CANDIDATES
    assert torch.allclose(weights.sum(1), torch.ones(30, dtype=torch.float64)) and bool((weights >= 0).all())
    assert torch.equal(code.symbol(cands), s[:, None, :].expand_as(cands))
    for row in range(30):
        live = cands[row, weights[row] > 0, 0].tolist()
        assert len(set(live)) == len(live)  # no member counted twice (the padding is masked)
    # the first is the best: it is what resolve returns, and no member of the coset scores higher
    assert torch.equal(cands[:, 0], resolve(code, s, t, score))
    every = code.candidates(s)
    best = score(code.reconstruct(every, t[:, None, :]), slice(0, 30)).max(1).values
    assert torch.allclose(score(code.reconstruct(cands[:, :1], t[:, None, :]), slice(0, 30))[:, 0], best)
