"""python -m analysis.distributed: bad arguments are refused before any work, a short run of each setting
writes the issue's JSON fields, table and plot, and the VIOLATION flag fires when a rate lies below its bound."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from analysis import distributed
from ibflow import CODECS
from synthetic.sources import GaussianSideInformation

TINY = ["--betas", "0.1", "--steps", "40", "--batch-size", "256", "--eval-samples", "4096", "--design-samples", "2048",
        "--sandwich-samples", "512", "--contrast", "16", "--hidden", "8", "--no-progress"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--rho", "1"], "--rho"),
        (["--rho", "-1.5"], "--rho"),
        (["--rho", "nan"], "--rho"),
        (["--betas", "0"], "--betas"),
        (["--betas", "0.1", "inf"], "--betas"),
        (["--steps", "0"], "--steps"),
        (["--contrast", "1"], "--contrast"),
        (["--eval-samples", "10"], "--eval-samples"),
        (["--lr", "-1"], "--lr"),
        (["--seed", "-3"], "--seed"),
        (["--setting", "three-terminal"], "--setting"),
        (["--plot", "out.txt"], "--plot"),
        (["--codec", "no-such-codec"], "unknown codec 'no-such-codec'"),
        (["--codec", "flowcodec"], "--codec 'flowcodec' is a vector codec"),
        (["--setting", "two-terminal", "--codec", "flowcodec-wyner-ziv"], "codes with a TwoTerminalFlowCodec"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(argv, needle, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        distributed.main(argv + TINY[-1:])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("setting", distributed.SETTINGS)
def test_a_short_run_writes_the_issues_fields(setting: str, tmp_path: Path, capsys) -> None:
    json_path, plot_path = tmp_path / "r.json", tmp_path / "r.png"
    code = distributed.main(["--setting", setting, "--rho", "0.9", *TINY, "--json", str(json_path), "--plot", str(plot_path)])
    out = capsys.readouterr().out
    report = json.loads(json_path.read_text())
    assert code == 0 and plot_path.stat().st_size > 0
    assert report["setting"] == setting and report["rho"] == 0.9 and report["unit"] == "bits"
    (p,) = report["points"]
    for key in ("beta", "distortion", "rate_kl", "rate_kl_ci", "rate_operational", "bound", "gap", "mi_lower", "mi_upper",
                "coset_error_rate", "distortion_operational", "violations"):
        assert key in p, key
    assert p["rate_kl_ci"][0] <= p["rate_kl"] <= p["rate_kl_ci"][1]
    assert p["gap"] == pytest.approx(p["rate_kl"] - p["bound"], abs=1e-9)
    if setting == "two-terminal":
        assert len(p["distortion"]) == 2 and len(p["rates_kl"]) == 2
        assert p["rate_kl"] == pytest.approx(sum(p["rates_kl"]), abs=1e-9)
    else:
        assert isinstance(p["distortion"], float)
        assert p["bound"] == pytest.approx(GaussianSideInformation(0.9).wyner_ziv_rd(p["distortion"]) / math.log(2))
    assert p["decoded_exactly"] and not p["violations"]
    # the table has one row per point, flagged
    assert out.count("ok") + out.count("gap>target") >= 1 and "VIOLATION" not in out


def test_a_rate_below_the_bound_is_flagged_and_exits_1(monkeypatch, tmp_path: Path, capsys) -> None:
    # a bound 1 nat too high (a wrong formula) must put E KL and the stream below it: VIOLATION, exit 1
    true_bound = GaussianSideInformation.wyner_ziv_rd
    monkeypatch.setattr(GaussianSideInformation, "wyner_ziv_rd", lambda self, D: true_bound(self, D) + 1.0)
    code = distributed.main(["--setting", "wyner-ziv", *TINY, "--json", str(tmp_path / "v.json")])
    err = capsys.readouterr().err
    assert code == 1 and "VIOLATION" in err and "E KL" in err and "bitstream rate" in err
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["violations"] and report["points"][0]["violations"]


def _setting_of(name: str) -> str:
    return next(s for s, (_, cls) in distributed.CODEC_OF_SETTING.items() if issubclass(CODECS.get(name).obj, cls))


@pytest.mark.parametrize("name", CODECS.tagged("distributed"))
@pytest.mark.parametrize("by_path", [False, True])
def test_every_distributed_codec_runs_through_the_command_by_name_and_by_path(name: str, by_path: bool, tmp_path: Path) -> None:
    entry = CODECS.get(name)
    spec = f"{entry.obj.__module__}:{entry.obj.__qualname__}" if by_path else name
    argv = ["--setting", _setting_of(name), "--codec", spec, *TINY, "--steps", "5", "--json", str(tmp_path / "r.json")]
    assert distributed.main(argv) == 0
    (p,) = json.loads((tmp_path / "r.json").read_text())["points"]
    assert p["decoded_exactly"] and math.isfinite(p["rate_kl"])
