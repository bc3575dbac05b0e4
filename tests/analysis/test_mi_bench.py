"""analysis.mi_bench in-process: --quick JSON fields, InfoNCE cap, bias, sources, errors (samplers: tests/synthetic/test_samplers.py)."""

import json
import math

import numpy as np
import pytest

from analysis import mi_bench

CELL_FIELDS = {
    "mi", "method", "true_mi", "mean", "bias", "std", "mean_ci", "mean_ci_halfwidth", "coverage", "seconds",
    "repeats", "values", "cis", "seeds", "steps_run", "curve",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mi")
    code = mi_bench.main(["--quick", "--json", str(out / "m.json"), "--plot", str(out / "m.png"),
                          "--no-progress", "--jobs", "1"])
    return code, json.loads((out / "m.json").read_text()), out


def test_quick_json_fields(quick_run):
    code, report, out = quick_run
    assert code == 0
    assert report["unit"] == "nats" and report["source"] == "staircase"
    assert report["settings"]["quick"] and report["settings"]["batch_size"] == 64
    assert report["settings"]["steps"] < 4000 and any("4000" in n for n in report["settings"]["notes"])
    assert "not measured" in report["published_context"]["note"]
    assert report["log_k"] == pytest.approx(math.log(64))
    mis = report["settings"]["mis"]
    assert len(mis) == 2
    assert {(c["mi"], c["method"]) for c in report["cells"]} == {(mi, m) for mi in mis for m in mi_bench.DEFAULT_METHODS}
    for c in report["cells"]:
        assert CELL_FIELDS <= set(c)
        assert c["repeats"] == len(c["values"]) == len(report["settings"]["seeds"]) == 2
        assert c["true_mi"] == pytest.approx(c["mi"], rel=1e-12)
        assert c["std"] >= 0 and c["seconds"] > 0
    assert (out / "m.png").stat().st_size > 10_000


def test_bias_is_mean_minus_truth(quick_run):
    _, report, _ = quick_run
    for c in report["cells"]:
        assert c["mean"] == pytest.approx(float(np.mean(c["values"])), abs=1e-12)
        assert c["bias"] == pytest.approx(c["mean"] - c["true_mi"], abs=1e-12)
        assert c["std"] == pytest.approx(float(np.std(c["values"], ddof=1)), abs=1e-12)


def test_infonce_never_exceeds_log_k(quick_run):
    _, report, _ = quick_run
    cap = math.log(report["settings"]["batch_size"])
    cells = [c for c in report["cells"] if c["method"] == "infonce"]
    assert cells
    for c in cells:
        for v, ci in zip(c["values"], c["cis"]):
            assert v <= cap + 1e-9  # each held-out minibatch value is <= log K
            assert v <= cap + 0.5 * (ci[1] - ci[0])
        assert c["mean"] <= cap + c["mean_ci_halfwidth"]


def test_table_holds_the_json_numbers(quick_run):
    _, report, _ = quick_run
    table = mi_bench.format_table(report["cells"], 64)
    for c in report["cells"]:
        assert mi_bench._f(c["bias"], sign=True) in table and mi_bench._f(c["mean"]) in table


@pytest.mark.parametrize(
    "argv,name",
    [
        (["--mis", "-1"], "--mis"),
        (["--methods", "ksg", "bogus"], "--methods"),
        (["--steps", "0"], "--steps"),
        (["--batch-size", "1"], "--batch-size"),
        (["--repeats", "0"], "--repeats"),
        (["--jobs", "0"], "--jobs"),
        (["--samples", "100"], "--samples"),
        (["--source", "nope"], "--source"),
        (["--source", "student-t", "--df", "1", "--mis", "0.5"], "--mis"),
        (["--seeds", "1", "1"], "--seeds"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(argv, name, capsys):
    with pytest.raises(SystemExit) as e:
        mi_bench.main(argv + ["--quick", "--no-progress"])
    assert e.value.code == 2
    assert name in capsys.readouterr().err


@pytest.mark.slow
def test_quick_transformed_and_student_t_run(tmp_path):
    for source in ("transformed", "student-t"):
        path = tmp_path / f"{source}.json"
        code = mi_bench.main(["--quick", "--source", source, "--methods", "ksg", "infonce", "--json", str(path),
                              "--no-progress", "--jobs", "1"])
        assert code == 0
        report = json.loads(path.read_text())
        assert report["source"] == source and report["unit"] == "nats"
