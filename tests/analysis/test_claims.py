"""analysis.claims: the facts the verdicts rest on, checked on small codecs and closed forms; the CLI in-process."""

import json
import math

import numpy as np
import pytest
import torch
from scipy import integrate
from hypothesis import given
from hypothesis import strategies as st

from analysis import claims
from analysis.claims import coding
from analysis.claims.report import _fmt_value
from ibflow import FlowCodec, NTCCodec


def _initialised_codec(dim: int = 1, scale: float = 2.0, spline_bins: int | None = 8, seed: int = 0) -> FlowCodec:
    """A FlowCodec after data-dependent initialisation on N(0, scale^2): its encoder standardises x,
    so |det df/dx| = 1/scale^dim, far from 1 (no training needed for the density facts)."""
    torch.manual_seed(seed)
    codec = FlowCodec(dim, spline_bins=spline_bins)
    gen = torch.Generator().manual_seed(seed)
    codec.data_init(scale * torch.randn(4096, dim, generator=gen), generator=gen)
    return codec.eval()


@given(
    sigma=st.floats(0.05, 5.0),
    log_abs_det=st.floats(-3.0, 3.0),
    mean=st.floats(-5.0, 5.0),
)
def test_stated_density_integrates_to_inverse_jacobian(sigma, log_abs_det, mean):
    z = np.linspace(mean - 12 * sigma, mean + 12 * sigma, 20_001)[:, None]
    corrected = integrate.trapezoid(claims.corrected_latent_density(z, np.array([mean]), sigma), z[:, 0])
    stated = integrate.trapezoid(claims.stated_latent_density(z, np.array([mean]), sigma, log_abs_det), z[:, 0])
    assert corrected == pytest.approx(1.0, abs=1e-7)
    assert stated == pytest.approx(math.exp(-log_abs_det), rel=1e-7)


def test_codec_latent_density_corrected_fits_stated_does_not():
    codec = _initialised_codec(scale=2.0)
    row = claims.latent_density_check(codec, 0.7, n_mc=50_000, seed=3)
    assert row["integral_corrected"] == pytest.approx(1.0, abs=1e-6)
    assert row["integral_stated"] == pytest.approx(math.exp(-row["log_abs_det"]), rel=1e-6)
    assert abs(row["integral_stated"] - 1) > 0.5  # |det df/dx| ~ 1/2: the stated density has mass ~2
    assert row["p_corrected"] > 1e-4  # histogram of the codec's own z consistent with N(f(x), sigma^2)
    assert row["p_stated"] < 1e-12


def test_jacobian_belongs_to_the_density_of_f_of_x():
    from synthetic import get_source

    codec = _initialised_codec(scale=1.0)
    src = get_source("gaussian", variance=1.0)
    out = claims.pushforward_density_check(codec, src, n_mc=50_000, seed=1)
    assert out["p"] > 1e-4


@given(
    a=st.floats(0.1, 5.0),
    s2=st.floats(0.1, 5.0),
    sigma=st.floats(0.1, 3.0),
    t=st.floats(0.05, 50.0),
)
def test_claim2_identity_and_inequality_closed_form(a, s2, sigma, t):
    terms = claims.gaussian_channel_terms(a, s2, sigma, t)
    assert terms["e_kl"] == pytest.approx(terms["mi"] + terms["kl_marginal_prior"], abs=1e-10)
    assert terms["kl_marginal_prior"] >= -1e-12
    assert terms["e_kl"] >= terms["mi"] - 1e-12
    # equality exactly when the prior is the marginal N(0, a^2 s2 + sigma^2)
    eq = claims.gaussian_channel_terms(a, s2, sigma, a * a * s2 + sigma * sigma)
    assert eq["e_kl"] == pytest.approx(eq["mi"], abs=1e-12)


def test_latent_quadrature_matches_linear_gaussian_closed_form():
    """With spline_bins=None the encoder and prior flows are affine, so every quantity is closed form."""
    from synthetic import get_source

    codec = _initialised_codec(scale=1.5, spline_bins=None)
    src = get_source("gaussian", variance=1.5**2)
    with torch.no_grad():
        f0, f1 = (float(codec.encode(torch.tensor([[v]]))) for v in (0.0, 1.0))
        u0, u1 = (float(codec.prior(torch.tensor([[v]]))[0]) for v in (0.0, 1.0))
    a, b = f1 - f0, f0
    slope = u1 - u0  # prior: u = (z - m) / sqrt(t)
    t, m = 1 / slope**2, -u0 / slope
    sigma, s2 = float(codec.sigma), 1.5**2
    v = a * a * s2 + sigma**2
    q = claims.latent_quadrature(codec, src)
    assert q["mass"] == pytest.approx(1.0, abs=1e-6)
    assert q["mi"] == pytest.approx(0.5 * math.log(v / sigma**2), abs=1e-4)
    assert q["h_z"] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * v), abs=1e-4)
    e_kl = 0.5 * ((v + (b - m) ** 2) / t - 1 + math.log(t / sigma**2))
    assert q["e_kl"] == pytest.approx(e_kl, abs=1e-4)
    assert q["e_kl"] == pytest.approx(q["mi"] + q["kl_marginal_prior"], abs=1e-9)


def test_symbolic_checks_all_pass():
    sym = claims.symbolic_checks()
    assert set(sym) == {1, 2, 3, 4, 5, 6}
    failed = [(n, k) for n, d in sym.items() for k, v in d.items() if k.startswith("passes_") and not v]
    assert not failed
    assert sym[1]["integral_stated"] == "1/J"
    assert sym[6]["slope_at_optimum"] == "-1/beta"


def test_quantized_codec_bitstream_roundtrip():
    from ibflow.entropy import channel_code_length
    from synthetic import get_source

    torch.manual_seed(0)
    src = get_source("gaussian-vector", variances=[4.0, 1.0, 0.25])
    codec = NTCCodec(3, hidden=16)
    coding._train_quantized(codec, src, beta=0.5, steps=30, seed=0)
    x = src.sample(4096, seed=1)
    stream = codec.compress(x)
    k = codec.symbols(x)
    with torch.no_grad():
        x_hat = codec.decompress(stream["strings"], stream["shape"])["x_hat"]
        assert torch.allclose(x_hat, codec.reconstruct(k))
    ideal_bits = channel_code_length(codec.coding_prior(), k) / math.log(2)
    from ibflow.entropy import RANGE_SIDE_BYTES, overhead_bytes

    # the ANS payload: the stream less its container (header, symbol range, CRC)
    coded_bits = 8 * (len(stream["strings"][0]) - overhead_bytes("ntc", 1, RANGE_SIDE_BYTES))
    # ANS costs the ideal code length of its tables plus a few words (constriction quantizes the
    # probabilities to 24 bits: a relative excess far below 1 %)
    assert ideal_bits - 1 <= coded_bits <= 1.01 * ideal_bits + 128


def test_matched_hidden_gives_same_size():
    codec = FlowCodec(4)
    target = coding._n_params(codec)
    q = NTCCodec(4, coding._matched_hidden(4, target))
    assert abs(coding._n_params(q) - target) / target < 0.05


def test_parser_and_bad_jobs():
    args = claims.build_parser().parse_args(["--quick", "--json", "x.json"])
    assert args.quick and args.json == "x.json"
    with pytest.raises(SystemExit) as e:
        claims.main(["--jobs", "0"])
    assert e.value.code == 2


@pytest.fixture(scope="module")
def tiny_trained():
    settings = claims.ClaimsSettings.quick_settings(
        steps=60, vector_steps=30, n_eval=2**13, vector_eval=2**12, betas=[0.2, 0.4, 0.8], mc_samples=20_000,
        sup_samples=2**12, bin_samples=2**12, timing_samples=2**10, timing_repeats=3, quant_steps=20, jobs=1,
    )
    return settings, claims.train_codecs(settings)


@pytest.mark.slow
def test_mathematical_verdicts_on_briefly_trained_codecs(tiny_trained):
    """Claims 1-5 are statements about densities, entropies and units: their verdicts must not depend on
    how well the codec is trained."""
    settings, tc = tiny_trained
    expected = {1: claims.FAILS, 2: claims.CONDITIONAL, 3: claims.FAILS, 4: claims.FAILS, 5: claims.FAILS}
    for n, verdict in expected.items():
        res = claims.CHECKS[n](tc, settings)
        assert res.verdict == verdict, (n, res.evidence)
    e2 = claims.check_claim2(tc, settings).evidence
    assert e2["e_kl_unit_prior_bits"] > e2["mi_sandwich_bits"][1]
    assert abs(e2["identity_residual_unit_bits"]) < 5 * e2["e_kl_unit_prior_se_bits"] + 2e-3


@pytest.mark.slow
def test_cli_quick_json_and_table_agree(tmp_path, capsys):
    path = tmp_path / "claims.json"
    code = claims.main(["--quick", "--json", str(path), "--no-progress", "--jobs", "1"])
    assert code == 0
    report = json.loads(path.read_text())
    assert report["unit"] == "bits"
    assert report["verdict_set"] == list(claims.VERDICTS)
    assert [c["number"] for c in report["claims"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(c["verdict"] in claims.VERDICTS for c in report["claims"])
    assert all(c["evidence"]["symbolic_checks_pass"] for c in report["claims"])
    out = capsys.readouterr().out
    for c in report["claims"]:
        assert c["verdict"] in out
        for _label, key, fmt in c["headline"]:
            assert _fmt_value(c["evidence"][key], fmt).split(",")[0] in out.replace("\n", " ")
    t7 = report["claims"][6]["evidence"]
    assert t7["decoded_exactly"]
    assert t7["forward_ratio_flow_over_quantized"]["ci95"][0] <= t7["forward_ratio_flow_over_quantized"]["ratio"]
    t8 = report["claims"][7]["evidence"]
    assert t8["matched"], "claim 8 compared no matched distortion"
    for row in t8["matched"]:
        assert row["advantage_bits"] == pytest.approx(row["peer_gap_bits"] - row["flow_gap_bits"], abs=1e-12)
    verdict8 = report["claims"][7]["verdict"]
    if verdict8 == claims.FAILS:  # a failed claim means the best peer won by 5 SE at every matched D
        assert all(r["advantage_bits"] < -5 * r["se_bits"] for r in t8["matched"])
