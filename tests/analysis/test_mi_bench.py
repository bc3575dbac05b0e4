"""analysis.mi_bench and analysis.mi_sources in-process: --quick JSON fields, InfoNCE cap, bias, sources, errors."""

import json
import math

import numpy as np
import pytest

from analysis import mi_bench
from analysis.mi_sources import (
    CorrelatedGaussian,
    MISampler,
    StudentTPair,
    TransformedPair,
    make_sampler,
    student_t_mi_correction,
)

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


def test_staircase_mi_matches_poole():
    for mi in (2.0, 4.0, 6.0, 8.0, 10.0):
        s = CorrelatedGaussian.from_mi(mi, dim=20)
        assert -10 * math.log(1 - s.rho**2) == pytest.approx(mi, rel=1e-12)
        assert s.mutual_information == pytest.approx(mi, rel=1e-12)
        assert isinstance(s, MISampler)
    x, y = CorrelatedGaussian.from_mi(4.0).sample(50_000, seed=1)
    assert x.shape == y.shape == (50_000, 20)
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] == pytest.approx(CorrelatedGaussian.from_mi(4.0).rho, abs=0.01)


def test_transformed_keeps_the_gaussian_mi():
    g = CorrelatedGaussian.from_mi(6.0, dim=20)
    t = TransformedPair.from_mi(6.0, dim=20)
    assert t.mutual_information == g.mutual_information
    assert isinstance(t, MISampler)
    xg, yg = g.sample(500, seed=3)
    xt, yt = t.sample(500, seed=3)
    np.testing.assert_allclose(xt, xg**3)
    np.testing.assert_allclose(yt, np.exp(yg))
    # coordinate-wise strictly increasing: ranks unchanged, so the copula (and the MI) is the same
    assert np.array_equal(np.argsort(xt, axis=0), np.argsort(xg, axis=0))
    assert np.array_equal(np.argsort(yt, axis=0), np.argsort(yg, axis=0))


@pytest.mark.parametrize("df,dim,rho", [(5.0, 20, 0.3), (1.0, 1, 0.0), (3.0, 2, 0.6)])
def test_student_t_mi_matches_monte_carlo(df, dim, rho):
    s = StudentTPair(rho=rho, df=df, dim=dim)
    x, y = s.sample(60_000, seed=11)
    r = s.log_density_ratio(x, y)  # I = E log p(x,y)/(p(x)p(y)) under the joint
    se = r.std() / math.sqrt(r.size)
    assert abs(r.mean() - s.mutual_information) < 4 * se + 1e-3


def test_student_t_from_mi_and_limits():
    s = make_sampler("student-t", 4.0, dim=20, df=5.0)
    assert s.mutual_information == pytest.approx(4.0, rel=1e-12)
    assert student_t_mi_correction(1e6, 20, 20) == pytest.approx(0.0, abs=1e-3)  # t -> Gaussian
    assert student_t_mi_correction(2.0, 20, 20) > student_t_mi_correction(10.0, 20, 20) > 0
    with pytest.raises(ValueError, match="mi must exceed"):
        StudentTPair.from_mi(0.1, df=1.0, dim=20)


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
