"""Finished points are never lost: rd_gap and mi_bench log each point as it finishes, and a rerun with
``--resume`` runs only the missing ones and reports exactly what an uninterrupted run reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import mi_bench, rd_gap

# a tiny sweep: two betas, a few seconds in all
SWEEP = ["--source", "gaussian", "--betas", "0.2", "1", "--steps", "20", "--eval-samples", "8192",
         "--batch-size", "256", "--no-progress"]
GRID = ["--methods", "ksg", "nwj", "--mis", "2", "--seeds", "0", "1", "--steps", "50", "--samples", "1280",
        "--ksg-samples", "200", "--dim", "2", "--no-progress"]
WALL_TIME = ("fit_seconds", "train_seconds", "measure_seconds", "point_seconds", "seconds", "seconds_total")


def _without_wall_time(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k not in WALL_TIME} for item in items]


def _log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _table(out: str) -> str:
    """The printed report without the run-time line (wall time differs between runs)."""
    return "\n".join(line for line in out.splitlines() if "runtime" not in line)


def _without_seconds(out: str) -> str:
    """mi_bench's printed report without its wall times: the run-time line and the table's ``sec`` column."""
    lines = _table(out).splitlines()
    head = next(line for line in lines if line.lstrip().startswith("true MI"))
    cut = head.index("cover") + len("cover")
    table = set(range(lines.index(head), lines.index(head) + 2 + len(GRID_CELLS)))
    return "\n".join(line[:cut] if i in table else line for i, line in enumerate(lines))


GRID_CELLS = [(2.0, "ksg"), (2.0, "nwj")]


@pytest.fixture(scope="module")
def full_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    code = rd_gap.main(SWEEP + ["--jobs", "1", "--json", str(out / "r.json")])
    assert code == 0
    return json.loads((out / "r.json").read_text()), out / "r.json.points.jsonl"


def _count_points(monkeypatch) -> list[float]:
    trained: list[float] = []
    real = rd_gap.run_point

    def counted(settings, beta, progress=False):
        trained.append(beta)
        return real(settings, beta, progress)

    monkeypatch.setattr(rd_gap, "run_point", counted)
    return trained


def test_each_point_is_logged_with_its_key_and_settings_hash(full_sweep):
    report, log = full_sweep
    lines = _log_lines(log)
    assert sorted(line["key"] for line in lines) == [0.2, 1.0]
    assert len({line["settings_hash"] for line in lines}) == 1
    assert sorted((line["point"] for line in lines), key=lambda p: p["beta"]) == report["points"]


def test_a_resumed_sweep_runs_only_the_missing_point_and_reports_the_same_digits(full_sweep, tmp_path, monkeypatch, capsys):
    report, log = full_sweep
    rd_gap.main(SWEEP + ["--jobs", "1", "--json", str(tmp_path / "again.json")])
    uninterrupted_out = capsys.readouterr().out
    kept = [line for line in log.read_text().splitlines() if json.loads(line)["key"] == 0.2]
    (tmp_path / "r.json.points.jsonl").write_text(kept[0] + "\n")  # the run that logged beta 0.2 alone
    trained = _count_points(monkeypatch)
    code = rd_gap.main(SWEEP + ["--jobs", "1", "--json", str(tmp_path / "r.json"), "--resume"])
    captured = capsys.readouterr()
    assert code == 0 and trained == [1.0]
    assert "--resume: 1 finished point(s) read" in captured.err
    resumed = json.loads((tmp_path / "r.json").read_text())
    assert _without_wall_time(resumed["points"]) == _without_wall_time(report["points"])
    assert _table(captured.out) == _table(uninterrupted_out)
    assert sorted(line["key"] for line in _log_lines(tmp_path / "r.json.points.jsonl")) == [0.2, 1.0]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_or_failed_sweep_keeps_its_finished_point_for_resume(failure, full_sweep, tmp_path, monkeypatch):
    report, _ = full_sweep
    real = rd_gap.run_point

    def fails_at_beta_1(settings, beta, progress=False):
        if beta == 1.0:
            raise failure("stopped at beta 1")
        return real(settings, beta, progress)

    monkeypatch.setattr(rd_gap, "run_point", fails_at_beta_1)
    argv = SWEEP + ["--jobs", "1", "--json", str(tmp_path / "r.json")]
    if failure is KeyboardInterrupt:
        assert rd_gap.main(argv) == 130
    else:
        with pytest.raises(RuntimeError, match="stopped at beta 1"):
            rd_gap.main(argv)
    assert [line["key"] for line in _log_lines(tmp_path / "r.json.points.jsonl")] == [0.2]
    monkeypatch.setattr(rd_gap, "run_point", real)
    assert rd_gap.main(argv + ["--resume"]) == 0
    resumed = json.loads((tmp_path / "r.json").read_text())
    assert not resumed["interrupted"]
    assert _without_wall_time(resumed["points"]) == _without_wall_time(report["points"])


def test_two_jobs_give_the_points_of_one(full_sweep, tmp_path):
    report, _ = full_sweep
    assert rd_gap.main(SWEEP + ["--jobs", "2", "--json", str(tmp_path / "r.json")]) == 0
    assert _without_wall_time(json.loads((tmp_path / "r.json").read_text())["points"]) == _without_wall_time(report["points"])


def test_resume_from_a_log_of_other_settings_exits_2(full_sweep, tmp_path, capsys):
    _, log = full_sweep
    (tmp_path / "r.json.points.jsonl").write_text(log.read_text())
    with pytest.raises(SystemExit) as e:
        rd_gap.main(SWEEP + ["--steps", "21", "--jobs", "1", "--json", str(tmp_path / "r.json"), "--resume"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "2 point(s) written with other settings" in err
    assert (tmp_path / "r.json.points.jsonl").read_text() == log.read_text()  # left as it was


def test_resume_without_a_log_runs_every_point_and_says_so(tmp_path, monkeypatch, capsys):
    trained = _count_points(monkeypatch)
    assert rd_gap.main(SWEEP + ["--betas", "1", "--jobs", "1", "--json", str(tmp_path / "r.json"), "--resume"]) == 0
    assert trained == [1.0] and "no points log" in capsys.readouterr().err


def test_resume_needs_a_place_for_the_log(capsys):
    with pytest.raises(SystemExit) as e:
        rd_gap.main(SWEEP + ["--resume"])
    assert e.value.code == 2 and "--resume needs --json or --checkpoint-dir" in capsys.readouterr().err


def test_with_a_checkpoint_dir_alone_the_points_are_logged_there_and_resumed(tmp_path, monkeypatch):
    argv = SWEEP + ["--betas", "1", "--jobs", "1", "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert rd_gap.main(argv) == 0
    assert [line["key"] for line in _log_lines(tmp_path / "ckpt" / "points.jsonl")] == [1.0]
    trained = _count_points(monkeypatch)
    assert rd_gap.main(argv + ["--resume"]) == 0 and trained == []


def test_a_resumed_benchmark_reports_the_cells_of_an_uninterrupted_one(tmp_path, capsys):
    assert mi_bench.main(GRID + ["--jobs", "1", "--json", str(tmp_path / "full.json")]) == 0
    uninterrupted_out = capsys.readouterr().out
    full = json.loads((tmp_path / "full.json").read_text())
    lines = (tmp_path / "full.json.points.jsonl").read_text().splitlines()
    assert sorted(tuple(json.loads(line)["key"]) for line in lines) == [
        (2.0, "ksg", 0), (2.0, "ksg", 1), (2.0, "nwj", 0), (2.0, "nwj", 1)]
    # an nwj run and a ksg run are missing: the resumed run does those two alone
    kept = [line for line in lines if tuple(json.loads(line)["key"]) in {(2.0, "ksg", 0), (2.0, "nwj", 1)}]
    (tmp_path / "r.json.points.jsonl").write_text("\n".join(kept) + "\n")
    assert mi_bench.main(GRID + ["--jobs", "1", "--json", str(tmp_path / "r.json"), "--resume"]) == 0
    captured = capsys.readouterr()
    assert "--resume: 2 finished point(s) read" in captured.err
    resumed = json.loads((tmp_path / "r.json").read_text())
    assert _without_wall_time(resumed["cells"]) == _without_wall_time(full["cells"])
    assert _without_seconds(captured.out) == _without_seconds(uninterrupted_out)
    assert len((tmp_path / "r.json.points.jsonl").read_text().splitlines()) == 4


def test_a_benchmark_log_of_other_settings_is_refused(tmp_path, capsys):
    assert mi_bench.main(GRID + ["--methods", "ksg", "--jobs", "1", "--json", str(tmp_path / "r.json")]) == 0
    with pytest.raises(SystemExit) as e:
        mi_bench.main(GRID + ["--methods", "ksg", "--ksg-k", "4", "--jobs", "1", "--json", str(tmp_path / "r.json"),
                              "--resume"])
    assert e.value.code == 2 and "other settings" in capsys.readouterr().err
