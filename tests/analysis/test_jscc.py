"""JSCC: OPTA and separation formulas, the separation baseline's FlowCodec bitstream, the trained rho = 1 codec at
OPTA (Goblick), the CLI and its errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import jscc as cli
from ibflow import TrainConfig
from ibflow.channel import (
    AWGNChannel,
    awgn_capacity,
    db_to_linear,
    linear_to_db,
    JSCCCodec,
    JSCCEvaluation,
    adapt_decoder,
    block_lengths,
    block_sampler,
    evaluate_jscc,
    linear_distortion,
    opta_distortion,
    separation_distortion,
    train_jscc,
    train_separation_codec,
)
from synthetic import get_source

SETTINGS = settings(deadline=None)
rhos = st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
snrs_db = st.floats(-10.0, 40.0)
variances = st.floats(0.01, 100.0)
FIELDS = {"snr_db", "distortion_db", "distortion_db_ci", "opta_db", "separation_db", "separation_ideal_db", "gap_db"}
SEPARATION_FIELDS = {"beta", "rate_bits", "rate_limit_bits", "distortion_db", "distortion_db_ci"}


@SETTINGS
@given(variance=variances, snr_db=snrs_db, rho=rhos)
def test_opta_is_rate_distortion_at_capacity(variance, snr_db, rho):
    snr = db_to_linear(snr_db)
    # Gaussian D(R) = s^2 exp(-2R) at R = rho C
    assert opta_distortion(variance, snr, rho) == pytest.approx(variance * math.exp(-2 * rho * awgn_capacity(snr)))
    # no scheme in the module beats it; linear transmission meets it exactly at rho = 1 (Goblick 1965)
    assert linear_distortion(variance, snr, rho) >= opta_distortion(variance, snr, rho) * (1 - 1e-12)
    if rho == 1.0:
        assert linear_distortion(variance, snr, 1.0) == pytest.approx(opta_distortion(variance, snr, 1.0))


@SETTINGS
@given(variance=variances, design_db=snrs_db, offset=st.floats(-20.0, 20.0), rho=rhos)
def test_separation_cliff(variance, design_db, offset, rho):
    design, test = db_to_linear(design_db), db_to_linear(design_db + offset)
    d = separation_distortion(variance, test, design, rho)
    if test < design:
        assert d == variance  # the channel code fails below its design SNR
    else:  # flat at OPTA of the design SNR above it
        assert d == pytest.approx(opta_distortion(variance, design, rho))
        assert d >= opta_distortion(variance, test, rho) * (1 - 1e-12)
    # with a real source code's distortion: the same cliff, flat at that distortion above it
    real = 1.5 * d if test >= design else 0.1 * variance
    assert separation_distortion(variance, test, design, rho, real) == (variance if test < design else real)


def test_separation_codec_bitstream_fits_the_channel_code():
    """The separation baseline's source code: a FlowCodec whose real ANS bitstream carries at most rho C(design
    SNR) nats per sample and decodes exactly; its distortion cannot beat D(R) at the rate it spends, and with the
    binning loss (about 0.25 bit at high rate, here quick settings) it stays within 3 dB of the ideal code."""
    s2, rate_limit = 2.0, awgn_capacity(db_to_linear(10.0))
    source = get_source("gaussian", variance=s2)
    sep = train_separation_codec(lambda n, seed: source.sample(n, seed=seed), s2, rate_limit,
                                 TrainConfig(steps=150, seed=0), max_rounds=2, n_design=2**15, n_test=2**15)
    assert sep.decoded_exactly
    assert sep.rate <= rate_limit
    assert sep.rate == pytest.approx(8 * sep.n_bytes * math.log(2) / 2**15)
    assert sep.rate > rate_limit - 0.1  # the budget is used, not wasted
    assert sep.distortion_ci[1] >= s2 * math.exp(-2 * sep.rate)  # D(R) at its own rate: nothing does better
    loss_db = linear_to_db(sep.distortion / (s2 * math.exp(-2 * rate_limit)))
    assert 0 < loss_db < 3.0, f"loss to the ideal Gaussian code {loss_db:.2f} dB"
    assert sep.beta > 2 * s2 * math.exp(-2 * rate_limit)  # raised from the theory beta to pay for the binning


def test_opta_closed_values():
    assert linear_to_db(opta_distortion(1.0, db_to_linear(10.0), 1.0)) == pytest.approx(-10.4139, abs=1e-4)
    assert opta_distortion(2.0, 3.0, 0.5) == pytest.approx(1.0)
    assert opta_distortion(1.0, 1.0, 2.0) == pytest.approx(0.25)


@pytest.mark.parametrize("rho, blocks", [(1.0, (1, 1)), (0.5, (2, 1)), (2.0, (1, 2)), (1.5, (2, 3)), (0.25, (4, 1))])
def test_block_lengths(rho, blocks):
    assert block_lengths(rho) == blocks


@pytest.mark.parametrize("rho", [0.0, -1.0, math.inf, math.nan, math.pi])
def test_block_lengths_rejects(rho):
    with pytest.raises(ValueError, match="rho"):
        block_lengths(rho)


@pytest.fixture(scope="module")
def rho1_codec():
    """A rho = 1 codec trained at 10 dB from a deliberately nonlinear start (seeded)."""
    torch.manual_seed(0)
    source = get_source("gaussian", variance=2.0)
    sample = block_sampler(lambda n, seed: source.sample(n, seed=seed), 1)
    codec = JSCCCodec(1, 1, AWGNChannel(10.0), hidden=16, decoder_hidden=32, init_noise=0.5)
    start = evaluate_jscc(_initialised(codec, sample), sample, 2**15, seed=5)
    train_jscc(codec, sample, TrainConfig(steps=1000, batch_size=2048, lr=5e-3, seed=0), progress=False)
    return codec, sample, start


def _initialised(codec: JSCCCodec, sample) -> JSCCCodec:
    import copy

    c = copy.deepcopy(codec)
    c.data_init(sample(2048, 99))
    return c


def test_trained_rho1_codec_reaches_opta(rho1_codec):
    """Goblick (1965): at rho = 1 uncoded linear transmission is optimal; the trained codec must get within
    0.1 dB of OPTA and must not beat it beyond its 95 % CI (standard error over 2^17 test samples)."""
    codec, sample, start = rho1_codec
    s2, snr = 2.0, db_to_linear(10.0)
    opta = opta_distortion(s2, snr, 1.0)
    assert linear_to_db(start.distortion / opta) > 0.3  # the start is far from OPTA: training got it there
    ev = evaluate_jscc(codec, sample, 2**17, seed=11)
    gap_db = linear_to_db(ev.distortion / opta)
    assert gap_db < 0.1, f"gap to OPTA {gap_db:.3f} dB"
    assert ev.distortion_ci[1] >= opta, f"beats OPTA beyond its CI: {ev.distortion_ci} < {opta}"
    assert not cli.point_violations("codec", ev, opta, 1.0, 10.0)


def test_rho1_codec_power_constraint(rho1_codec):
    codec, sample, _ = rho1_codec
    ev = evaluate_jscc(codec, sample, 2**17, seed=12)
    # The calibration (2^19 samples) is 3 of its standard errors on the safe side, so the power on
    # 2^17 fresh samples is below 1 up to the test's own sampling error (5 standard errors of it) and not
    # far below either (the margin costs 3 calibration standard errors, 2 / 2^19 variance per sample).
    assert ev.power < 1.0 + 5 * ev.power_se
    assert ev.power > 1.0 - 5 * math.sqrt(ev.power_se**2 + 2 / 2**19) - 3 * math.sqrt(2 / 2**19)


@pytest.mark.parametrize("snr_db", [0.0, 20.0])
def test_rho1_receiver_adapts_to_opta_at_other_snrs(rho1_codec, snr_db):
    """The same transmitter is optimal at every SNR once the receiver knows its SNR."""
    codec, sample, _ = rho1_codec
    adapted = adapt_decoder(codec, AWGNChannel(snr_db), sample, TrainConfig(steps=200, lr=2e-3, seed=3))
    ev = evaluate_jscc(adapted, sample, 2**17, seed=13)
    opta = opta_distortion(2.0, db_to_linear(snr_db), 1.0)
    assert 10 * math.log10(ev.distortion_ci[1] / opta) >= 0
    assert linear_to_db(ev.distortion / opta) < 0.1
    # the transmitter did not change: its power is the calibrated one
    assert adapted.power_norm.running_power == codec.power_norm.running_power


def test_violations_are_flagged():
    ev = JSCCEvaluation(distortion=0.05, distortion_se=0.001, distortion_ci=(0.048, 0.052), power=1.0,
                        power_se=0.001, n_blocks=1000)
    assert cli.point_violations("x", ev, bound=0.0909, power=1.0, snr_db=10.0)  # far below OPTA
    assert not cli.point_violations("x", ev, bound=0.051, power=1.0, snr_db=10.0)  # below, but inside the CI
    loud = JSCCEvaluation(0.1, 0.001, (0.098, 0.102), power=1.1, power_se=0.001, n_blocks=1000)
    assert any("power" in v for v in cli.point_violations("x", loud, bound=0.0909, power=1.0, snr_db=10.0))


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("jscc")
    argv = ["--source", "gaussian", "--rho", "1", "--snr-db", "0", "10", "20", "--quick", "--hidden", "16",
            "--decoder-hidden", "32", "--decoder-depth", "2", "--json", str(out / "j.json"), "--plot",
            str(out / "j.png"), "--no-progress"]
    code = cli.main(argv)
    return code, json.loads((out / "j.json").read_text()), out


def test_cli_json_fields_and_numbers(quick_report):
    code, report, out = quick_report
    assert code == 0
    assert report["source"] == "gaussian" and report["rho"] == 1 and report["unit"] == "dB"
    assert report["design_snr_db"] == 10.0
    assert (out / "j.png").stat().st_size > 10_000
    assert not report["violations"]
    sep = report["separation_codec"]
    assert SEPARATION_FIELDS <= set(sep)
    assert sep["rate_bits"] <= sep["rate_limit_bits"] == pytest.approx(awgn_capacity(10.0) / math.log(2))
    assert sep["decoded_exactly"]
    lo, hi = sep["distortion_db_ci"]
    assert lo < sep["distortion_db"] < hi
    assert hi >= sep["distortion_ideal_db"]  # the FlowCodec cannot beat the ideal Gaussian source code
    for p in report["points"]:
        assert FIELDS <= set(p)
        snr = db_to_linear(p["snr_db"])
        assert p["opta_db"] == pytest.approx(linear_to_db(1 / (1 + snr)))
        assert p["gap_db"] == pytest.approx(p["distortion_db"] - p["opta_db"])
        lo, hi = p["distortion_db_ci"]
        assert lo < p["distortion_db"] < hi
        ideal = linear_to_db(1 / (1 + db_to_linear(10.0)))
        assert p["separation_ideal_db"] == pytest.approx(0.0 if p["snr_db"] < 10 else ideal)
        # the FlowCodec bitstream's own distortion above the design SNR, the cliff below
        assert p["separation_db"] == pytest.approx(0.0 if p["snr_db"] < 10 else sep["distortion_db"])
        assert not p["violation"]
        assert p["gap_db"] < 0.5  # quick settings; the full bar (0.1 dB) is test_trained_rho1_codec_reaches_opta
    # graceful degradation: below the design SNR JSCC beats the failed separate code
    low = report["points"][0]
    assert low["distortion_db"] < low["separation_db"] - 2


def test_table_holds_the_json_numbers(quick_report):
    _, report, _ = quick_report
    table = cli.format_table(report)
    for p in report["points"]:
        assert f"{p['distortion_db']:.3f}" in table and f"{p['opta_db']:.3f}" in table
        assert f"{p['separation_db']:.3f}" in table and f"{p['separation_ideal_db']:.3f}" in table
    assert f"{report['separation_codec']['rate_bits']:.4f} bits/sample" in table


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--rho", "0"], "--rho"),
        (["--rho", "-1"], "--rho"),
        (["--rho", "3.14159"], "--rho"),
        (["--snr-db"], "--snr-db"),
        (["--snr-db", "100"], "--snr-db"),
        (["--design-snr-db", "nan"], "--design-snr-db"),
        (["--variance", "0"], "--variance"),
        (["--channel", "erasure", "--erasure-prob", "1.5"], "--erasure-prob"),
        (["--steps", "0"], "--steps"),
        (["--separation-steps", "0"], "--separation-steps"),
    ],
)
def test_bad_arguments_exit_2_with_message(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv + ["--no-progress"])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err
