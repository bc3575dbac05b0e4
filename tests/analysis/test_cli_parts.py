"""The study CLIs take their parts from the registries: every registered sampler (mi_bench) and channel
(jscc) runs, a user's part runs by ``module:attribute``, and misuse exits 2 naming the option."""

from __future__ import annotations

import json
import math

import pytest

from analysis import jscc, mi_bench
from ibflow.channel import linear_to_db
from synthetic import get_sampler
from tests.analysis.user_parts import NoisyCopySampler

USER_SAMPLER = "tests.analysis.user_parts:NoisyCopySampler"
USER_CHANNEL = "tests.analysis.user_parts:PlainAWGN"
# one MI value, one repeat, KSG on a few samples: seconds per run
TINY_BENCH = ["--mis", "3", "--repeats", "1", "--methods", "ksg", "--ksg-samples", "400", "--jobs", "1", "--no-progress"]
# a few training steps on few samples at one test SNR: the CLI path, not the codec's quality
TINY_JSCC = ["--steps", "20", "--adapt-steps", "5", "--separation-steps", "20", "--separation-rounds", "1",
             "--eval-samples", "4096", "--hidden", "8", "--decoder-hidden", "16", "--decoder-depth", "1",
             "--snr-db", "10", "--no-progress"]


def _bench(tmp_path, *argv: str) -> dict:
    path = tmp_path / "mi.json"
    assert mi_bench.main([*argv, *TINY_BENCH, "--json", str(path)]) == 0
    return json.loads(path.read_text())


def _jscc(tmp_path, *argv: str) -> tuple[int, dict]:
    path = tmp_path / "jscc.json"
    code = jscc.main([*argv, *TINY_JSCC, "--json", str(path)])
    return code, json.loads(path.read_text())


def _usage_error(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]  # argparse's usage line, then the one-line message


def test_mi_bench_sampler_flags_reach_the_sampler(tmp_path):
    report = _bench(tmp_path, "--source", "student-t", "--df", "3", "--dim", "4")
    truth = get_sampler("student-t", mi=3.0, df=3.0, dim=4).mutual_information
    assert report["cells"][0]["true_mi"] == pytest.approx(truth, rel=1e-12)
    assert report["settings"]["df"] == 3.0 and report["settings"]["dim"] == 4
    assert report["settings"]["source_options"] == {"df": 3.0, "dim": 4}


def test_mi_bench_runs_a_sampler_given_by_path(tmp_path):
    report = _bench(tmp_path, "--source", USER_SAMPLER, "--source-options", '{"dim": 3}')
    assert report["source"] == USER_SAMPLER
    (cell,) = report["cells"]
    sigma = 1.0 / math.sqrt(math.expm1(2.0 * 3.0 / 3))
    assert cell["true_mi"] == pytest.approx(1.5 * math.log1p(1.0 / sigma**2), rel=1e-12)
    assert cell["true_mi"] == pytest.approx(NoisyCopySampler(3.0, dim=3).mutual_information, rel=1e-12)
    assert report["settings"]["dim"] == report["settings"]["dim_y"] == 3
    assert report["settings"]["df"] is None


def test_mi_bench_settings_that_misdescribe_the_sampler_fail_loudly():
    settings = mi_bench.BenchSettings(source="staircase", mis=[2.0], methods=["ksg"], seeds=[0], dim=10)
    with pytest.raises(ValueError, match="source_options"):
        mi_bench.build_sampler(settings, 2.0)
    settings.source_options = {"dim": 10}
    assert mi_bench.build_sampler(settings, 2.0).dim_x == 10


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--source", "nope"], "staircase, student-t, transformed"),
        (["--source", "nope.mod:Thing"], "--source"),
        (["--df", "3"], "--df does not apply to sampler 'staircase'"),
        (["--source", "transformed", "--df", "3"], "--df"),
        (["--source", "student-t", "--fx", "exp"], "--fx"),
        (["--source", USER_SAMPLER, "--dim", "3"], "--dim"),
        (["--dim", "0"], "--dim 0"),
        (["--source-options", "{bad"], "--source-options"),
        (["--source-options", "[1, 2]"], "--source-options"),
        (["--source-options", '{"nope": 1}'], "nope"),
        (["--source-options", '{"dim": 4}', "--dim", "4"], "--source-options"),
    ],
)
def test_mi_bench_part_misuse_exits_2_naming_the_option(argv, needle, capsys):
    message = _usage_error(mi_bench.main, [*argv, "--quick", "--no-progress"], capsys)
    assert needle in message


def test_jscc_channel_flags_reach_the_channel(tmp_path):
    _, report = _jscc(tmp_path, "--channel", "erasure", "--erasure-prob", "0.25")
    assert report["channel_params"] == {"erasure_prob": 0.25, "signal_power": 1.0}
    e, snr = 0.25, 10.0
    assert report["points"][0]["opta_db"] == pytest.approx(linear_to_db(e + (1 - e) / (1 + snr)), abs=1e-12)


def test_jscc_runs_a_channel_given_by_path(tmp_path):
    code, report = _jscc(tmp_path, "--channel", USER_CHANNEL, "--channel-options", '{"signal_power": 2.0}')
    assert code == 0 and not report["violations"]
    assert report["channel"] == USER_CHANNEL and report["channel_params"] == {"signal_power": 2.0}
    (point,) = report["points"]
    assert point["opta_db"] == pytest.approx(linear_to_db(1 / 11), abs=1e-12)  # its bound: the AWGN OPTA at 10 dB
    assert point["power"] < 2.0 + 5 * point["power_se"]  # the codec is held to the channel's own power
    assert point["power"] > 1.5
    assert report["separation_codec"] is None and point["linear_db"] is None  # computed for the registered awgn only


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--channel", "nope"], "awgn, erasure, rayleigh"),
        (["--channel", "awgn", "--erasure-prob", "0.2"], "--erasure-prob does not apply to channel 'awgn'"),
        (["--channel", "erasure", "--coherence", "2"], "--coherence"),
        (["--channel", "rayleigh", "--coherence", "0"], "--coherence 0"),
        (["--channel", "math:pi"], "contracts.Channel"),
        (["--channel", USER_CHANNEL, "--coherence", "2"], "--coherence"),
        (["--channel-options", "{bad"], "--channel-options"),
        (["--channel-options", '"x"'], "--channel-options"),
        (["--channel-options", '{"nope": 1}'], "nope"),
        (["--source", "laplace"], "Gaussian OPTA"),
        (["--source", "mixture"], "Gaussian OPTA"),
        (["--source", "gaussian-vector"], "Gaussian OPTA"),
        (["--source", "nope"], "--source"),
    ],
)
def test_jscc_part_misuse_exits_2_naming_the_option(argv, needle, capsys):
    message = _usage_error(jscc.main, [*argv, "--quick", "--no-progress"], capsys)
    assert needle in message


def test_jscc_refuses_a_gaussian_source_of_more_than_one_dimension(monkeypatch, capsys):
    # a source by path that builds a 2-d i.i.d. Gaussian: the separation and linear baselines are per scalar sample
    import synthetic

    monkeypatch.setattr(synthetic, "two_d_gaussian", lambda variance: synthetic.get_source("gaussian", variance=variance, dim=2),
                        raising=False)
    message = _usage_error(jscc.main, ["--source", "synthetic:two_d_gaussian", "--quick", "--no-progress"], capsys)
    assert "Gaussian OPTA" in message and "dim 2" in message
