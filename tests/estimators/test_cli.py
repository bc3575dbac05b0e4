"""``python -m estimators`` in-process: every registered method runs from the command line, a user's part
plugs in by ``module:attribute``, and every usage error is one line with exit status 2."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from contracts.interface import Estimate
from estimators import ESTIMATORS, ConfiguredEstimator, estimate_mi, register_estimator
from estimators.__main__ import build_parser, main
from estimators.closed_form import gaussian_mi_from_correlations

USER = "tests.estimators.user_estimators"


def save_correlated_pair(tmp_path: Path) -> tuple[str, str]:
    """x.npy and y.npy under ``tmp_path``: 800 pairs of 2-d Gaussians with correlation 0.7 per coordinate."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((800, 2))
    y = 0.7 * x + math.sqrt(1 - 0.49) * rng.standard_normal((800, 2))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return str(tmp_path / "x.npy"), str(tmp_path / "y.npy")


@pytest.fixture
def pair(tmp_path: Path) -> tuple[str, str]:
    return save_correlated_pair(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_doe_with_its_own_defaults(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    # the README's recommended call failed on every input (TypeError: unexpected keyword 'k')
    code, out, err = run(capsys, "--x", pair[0], "--y", pair[1], "--method", "doe", "--steps", "50", "--no-progress")
    assert code == 0, err
    assert "method doe" in out


def test_cli_value_is_estimate_mi_value(pair: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, y = pair
    code, _, _ = run(capsys, "--x", x, "--y", y, "--k", "5", "--variant", "2", "--json", str(tmp_path / "n.json"))
    assert code == 0
    direct = estimate_mi(np.load(x), np.load(y), method="ksg", k=5, variant=2)
    assert json.loads((tmp_path / "n.json").read_text())["value"] == direct.value
    code, _, _ = run(capsys, "--x", x, "--y", y, "--options", '{"k": 5, "variant": 2}', "--bits", "--json", str(tmp_path / "b.json"))
    assert code == 0
    assert json.loads((tmp_path / "b.json").read_text())["value"] == pytest.approx(direct.value / math.log(2), rel=1e-12)


def test_flag_of_another_method_is_a_usage_error(pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--x", pair[0], "--y", pair[1], "--k", "3", "--method", "doe")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--k does not apply to method 'doe'" in err and "ba, ksg" in err


@pytest.mark.parametrize(
    "attribute,options,method",
    [("GaussianMI", '{"ridge": 0.0}', "gaussian"), ("gaussian_mi", None, "gaussian"), ("gaussian_mi_function", '{"ridge": 0.0}', "gaussian-function")],
)
def test_module_attribute_method(attribute: str, options: str | None, method: str, pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--options", options] if options else []
    code, out, err = run(capsys, "--x", pair[0], "--y", pair[1], "--method", f"{USER}:{attribute}", *extra)
    assert code == 0, err
    assert f"no interval; method {method}, n = 800" in out
    # 2 coordinates with rho = 0.7: plug-in standard error about sqrt(2) rho / sqrt(n) = 0.035; 4 SE
    value = float(out.split()[2])
    assert abs(value - gaussian_mi_from_correlations([0.7, 0.7])) < 4 * math.sqrt(2) * 0.7 / math.sqrt(800)


def test_a_new_registered_estimator_is_one_class(pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # what a new part costs: one options dataclass and one class; its flag and help appear by themselves
    monkeypatch.setattr(ESTIMATORS, "_entries", dict(ESTIMATORS._entries))

    @dataclasses.dataclass(frozen=True)
    class OffsetOptions:
        offset: float = dataclasses.field(default=0.0, metadata={"help": "added to the KSG value"})

    @register_estimator("offset-ksg", options=OffsetOptions)
    class OffsetKSG(ConfiguredEstimator):
        """KSG plus a constant (a test part)."""

        def estimate(self, x: np.ndarray, y: np.ndarray) -> Estimate:
            return Estimate(estimate_mi(x, y).value + self.options.offset, None, self.method)

    assert "offset-ksg" in build_parser().format_help() and "--offset" in build_parser().format_help()
    code, out, err = run(capsys, "--x", pair[0], "--y", pair[1], "--method", "offset-ksg", "--offset", "1.5")
    assert code == 0, err
    assert float(out.split()[2]) == pytest.approx(estimate_mi(np.load(pair[0]), np.load(pair[1])).value + 1.5, abs=1e-4)
    code, _, err = run(capsys, "--x", pair[0], "--y", pair[1], "--offset", "1.5")
    assert code == 2 and "--offset does not apply to method 'ksg' (it is an option of offset-ksg)" in err


def test_help_lists_every_method_with_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for entry in ESTIMATORS:
        assert f"  {entry.name}  " in out and entry.summary in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--method", "magic"], "unknown estimator 'magic'"),
        (["--method", "no_such_module.mod:Estimator"], "cannot import module 'no_such_module.mod'"),
        (["--variant", "3"], "argument --variant: invalid choice"),
        (["--k", "zero"], "argument --k: invalid int value"),
        (["--k", "0"], "k must be a positive integer"),
        (["--critic", "concat"], "--critic does not apply to method 'ksg'"),
        (["--options", '{"kk": 3}'], "method 'ksg' takes no option 'kk' (its options: k, variant"),
        (["--options", "[3]"], "argument --options: must be a JSON object"),
        (["--options", "{k: 3}"], "argument --options: not JSON"),
        (["--k", "4", "--options", '{"k": 5}'], "option k given both as a flag and in --options"),
        (["--method", f"{USER}:GaussianMI", "--seed", "1"], "--seed does not apply"),
        (["--method", f"{USER}:GaussianMI", "--options", '{"k": 3}'], "does not take these options"),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], message: str, pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--x", pair[0], "--y", pair[1], *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("python -m estimators: error: ") and message in err, err


def test_bad_input_files(tmp_path: Path, pair: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "short.npy", np.zeros((5, 2)))
    np.save(tmp_path / "nan.npy", np.full((800, 2), np.nan))
    np.save(tmp_path / "cube.npy", np.zeros((800, 2, 2)))
    (tmp_path / "text.npy").write_text("not an array")
    cases = [
        ([str(tmp_path / "missing.npy"), pair[1]], "--x: cannot read"),
        ([pair[0], str(tmp_path / "text.npy")], "--y: cannot read"),
        ([pair[0], str(tmp_path / "short.npy")], "y must have the same number of rows as x (800), got 5"),
        ([str(tmp_path / "nan.npy"), pair[1]], "x contains NaN or inf"),
        ([pair[0], str(tmp_path / "cube.npy")], "y must have shape (n, d)"),
    ]
    for (x, y), message in cases:
        code, out, err = run(capsys, "--x", x, "--y", y)
        assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    code, out, err = run(capsys, "--x", pair[0])
    assert code == 2 and err.count("\n") == 1 and "the following arguments are required: --y" in err
