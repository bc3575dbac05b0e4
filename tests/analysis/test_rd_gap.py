"""analysis.rd_gap in-process: --quick runs, JSON fields against closed forms, errors, exit status."""

import json
import math

import pytest

from analysis import rd_gap

FIELDS = {
    "beta", "distortion", "distortion_theory", "rd_lower", "rd_upper", "rate_kl", "rate_kl_ci", "mi_lower",
    "mi_upper", "rate_binned", "distortion_binned", "rate_coded", "distortion_coded", "gap", "gap_prior",
    "gap_channel", "rate_per_dim", "rate_per_dim_theory",
}


@pytest.fixture(scope="module")
def quick_gaussian(tmp_path_factory):
    out = tmp_path_factory.mktemp("rd")
    code = rd_gap.main(["--source", "gaussian", "--quick", "--json", str(out / "r.json"),
                        "--plot", str(out / "r.png"), "--no-progress", "--jobs", "1"])
    return code, json.loads((out / "r.json").read_text()), out


def test_quick_gaussian_json_matches_closed_forms(quick_gaussian):
    code, report, out = quick_gaussian
    assert code == 0
    assert report["unit"] == "bits" and report["source"] == "gaussian" and report["dim"] == 1
    assert report["params"] == {"variance": 1.0, "dim": 1}
    assert (out / "r.png").stat().st_size > 10_000
    for p in report["points"]:
        assert FIELDS <= set(p)
        # R(D) of the unit Gaussian, in bits, at the measured D
        assert p["rd_lower"] == pytest.approx(0.5 * math.log2(1 / p["distortion"]), rel=1e-12)
        assert p["rd_lower"] == p["rd_upper"]
        assert p["distortion_theory"] == pytest.approx(p["beta"] / 2)
        assert p["gap"] == pytest.approx(p["rate_kl"] - p["rd_lower"], abs=1e-12)
        assert p["gap"] == pytest.approx(p["gap_prior"] + p["gap_channel"], abs=1e-12)
        assert p["rate_per_dim"] is None
        assert not p["violations"]
        assert p["decoded_exactly"]


def test_table_and_json_hold_the_same_numbers(quick_gaussian, capsys):
    _, report, _ = quick_gaussian
    exact = True
    table = rd_gap.format_table(report["points"], exact)
    for p in report["points"]:
        assert f"{p['rate_kl']:.4f}" in table and f"{p['distortion']:.4f}" in table


def test_quick_vector_reports_per_dim(tmp_path):
    path = tmp_path / "v.json"
    code = rd_gap.main(["--source", "gaussian-vector", "--variances", "4", "1", "0.25", "--quick", "--betas", "1.0",
                        "--json", str(path), "--no-progress", "--jobs", "1", "--plot", str(tmp_path / "v.png")])
    assert code == 0
    p = json.loads(path.read_text())["points"][0]
    assert len(p["rate_per_dim"]) == 3
    # water-filling at the measured D: component rates sum to R(D)
    assert sum(p["rate_per_dim_theory"]) == pytest.approx(p["rd_lower"], rel=1e-9)
    assert p["rate_per_dim_theory"][2] == 0.0  # variance 0.25 is under the water level theta = 0.5


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--source", "gaussian", "--variance", "-1"], "variance"),
        (["--source", "gaussian", "--betas", "0"], "--betas"),
        (["--source", "gaussian", "--steps", "0"], "--steps"),
        (["--source", "gaussian", "--sigma", "0"], "--sigma"),
        (["--source", "mixture", "--weights", "[0.5, 0.6]", "--means", "[[0], [1]]", "--covariances", "[1, 1]"],
         "weights"),
    ],
)
def test_bad_arguments_exit_2_with_message(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        rd_gap.main(argv + ["--no-progress"])
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


def test_violation_sets_exit_status(monkeypatch, tmp_path):
    # a measurement that claims a rate below R(D) must be flagged and fail the run
    real = rd_gap.measure_point

    def broken(*args, **kwargs):
        p = real(*args, **kwargs)
        p["violations"].append("E KL below R(D) (injected)")
        return p

    monkeypatch.setattr(rd_gap, "measure_point", broken)
    code = rd_gap.main(["--source", "gaussian", "--quick", "--betas", "1.0", "--no-progress", "--jobs", "1"])
    assert code == 1
