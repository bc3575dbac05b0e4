"""analysis.mi_suite (python -m analysis.mi_bench --suite tasks): JSON, summaries, targets, PMI profiles, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis import mi_bench, mi_suite

TASKS = ["multinormal-dense-2x2", "mixture-x-1x1", "student-t-df2-2x2"]


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("suite")
    argv = ["--suite", "tasks", "--quick", "--tasks", *TASKS, "--methods", "ksg", "doe", "--n", "1500",
            "--repeats", "2", "--jobs", "1", "--no-progress", "--json", str(out / "s.json"),
            "--plot", str(out / "s.png"), "--pmi-plot", str(out / "p.png")]
    code = mi_bench.main(argv)
    return code, json.loads((out / "s.json").read_text()), out


def test_suite_report_has_every_estimate_and_summary(suite_run) -> None:  # type: ignore[no-untyped-def]
    code, report, out = suite_run
    assert code == 0 and report["unit"] == "nats"
    runs = report["runs"]
    assert {(r["task"], r["method"], r["seed"]) for r in runs} == {(t, m, s) for t in TASKS for m in ("ksg", "doe")
                                                                 for s in (0, 1)}
    for r in runs:
        assert math.isfinite(r["value"]) and r["family"] in mi_suite.TASK_FAMILIES
        assert r["ci"][0] <= r["value"] <= r["ci"][1]
    # the summaries are the runs' own: MAE, bias and coverage recomputed from them
    for cell in report["families"]:
        group = [r for r in runs if r["method"] == cell["method"] and cell["family"] in ("all", r["family"])]
        err = np.array([r["value"] - r["true_mi"] for r in group])
        assert cell["estimates"] == len(group)
        assert cell["mae"] == pytest.approx(float(np.abs(err).mean()), abs=1e-12)
        assert cell["bias"] == pytest.approx(float(err.mean()), abs=1e-12)
        covered = [r["ci"][0] <= r["true_mi"] <= r["ci"][1] for r in group]
        assert cell["coverage"] == pytest.approx(float(np.mean(covered)), abs=1e-12)
        assert cell["coverage_ci"][0] <= cell["coverage"] <= cell["coverage_ci"][1]
    assert (out / "s.png").stat().st_size > 10_000 and (out / "p.png").stat().st_size > 10_000


def test_pmi_profiles_are_kept_for_the_first_seed(suite_run) -> None:  # type: ignore[no-untyped-def]
    _, report, _ = suite_run
    for r in report["runs"]:
        if r["method"] == "doe" and r["seed"] == 0:
            assert 0 < len(r["pmi"]) <= mi_suite.PMI_KEPT
            # the held-out PMI's mean is the doe estimate (its held-out mean) when every term was kept
            if len(r["pmi"]) < mi_suite.PMI_KEPT:
                assert np.mean(r["pmi"]) == pytest.approx(r["value"], abs=1e-3)
        else:
            assert r["pmi"] is None or r["seed"] == 0
        if r["method"] == "ksg" and r["seed"] == 0:
            # the task's true PMI at its pairs: its mean is the true MI within 4 standard errors
            t = np.asarray(r["true_pmi"])
            assert abs(t.mean() - r["true_mi"]) < 4 * t.std() / math.sqrt(t.size) + 4 * r["true_mi_se"]


def _cell(family: str, method: str, mae: float) -> dict:
    return {"family": family, "method": method, "mae": mae}


def test_targets_compare_the_best_of_each_side() -> None:
    cells = [_cell("spiral", "ksg", 0.2), _cell("spiral", "nwj", 0.1), _cell("spiral", "doe", 0.06),
             _cell("spiral", "flow", 0.04), _cell("mixture", "ksg", 0.01), _cell("mixture", "flow", 0.03)]
    by = {t["family"]: t for t in mi_suite.check_targets(cells)}
    assert by["spiral"]["best_ibflow"] == "flow" and by["spiral"]["best_baseline"] == "nwj"
    assert by["spiral"]["ratio"] == pytest.approx(0.4) and by["spiral"]["half_of_baseline"]
    assert by["spiral"]["spiral_met"]
    assert by["mixture"]["ratio"] == pytest.approx(3.0) and not by["mixture"]["half_of_baseline"]
    assert "spiral_met" not in by["mixture"] and set(by) == {"spiral", "mixture"}


@pytest.mark.parametrize(("argv", "message"), [
    (["--tasks", "no-such-task"], "--tasks"),
    (["--n", "100"], "--n"),
    (["--methods", "no-such-method"], "--methods"),
    (["--repeats", "0"], "--repeats"),
    (["--families", "spiral", "--tasks", "mixture-x-1x1"], "--families"),
])
def test_bad_arguments_exit_2_before_any_work(argv, message, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as e:
        mi_bench.main(["--suite", "tasks", *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_resume_takes_the_logged_estimates(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["--suite", "tasks", "--quick", "--tasks", "multinormal-dense-2x2", "--methods", "ksg", "--n", "1500",
            "--jobs", "1", "--no-progress", "--json", str(tmp_path / "r.json")]
    assert mi_bench.main(argv) == 0
    first = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert mi_bench.main([*argv, "--resume"]) == 0
    assert "1 finished point(s)" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["runs"] == first
