"""analysis.points_log: lines that survive a crash, a torn last line skipped, other settings refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.points_log import PointsLog, SettingsMismatch, open_points_log, settings_hash


def test_points_read_back_exactly_with_their_field_order(tmp_path):
    log = PointsLog(tmp_path / "r.json.points.jsonl", "h")
    log.start()
    point = {"beta": 0.1 + 0.2, "rate": np.float64(1 / 3), "ci": (0.25, 0.5), "nan": float("nan"), "a": None}
    log.append(point["beta"], point)
    back = log.read().take(0.1 + 0.2)
    assert list(back) == list(point)  # same field order, so a report built from it reads the same
    assert back["beta"] == 0.1 + 0.2 and back["rate"] == 1 / 3 and back["ci"] == [0.25, 0.5]
    assert math.isnan(back["nan"]) and back["a"] is None


def test_a_task_listed_twice_takes_each_logged_point_once(tmp_path):
    log = PointsLog(tmp_path / "p.jsonl", "h")
    log.append([2.0, "ksg", 0], {"v": 1})
    log.append([2.0, "ksg", 0], {"v": 2})
    logged = log.read()
    assert len(logged) == 2
    assert [logged.take([2.0, "ksg", 0]), logged.take([2.0, "ksg", 0]), logged.take([2.0, "ksg", 0])] == [
        {"v": 1}, {"v": 2}, None]
    assert logged.take([2.0, "ksg", 1]) is None


def test_a_torn_last_line_is_skipped_with_a_warning_and_cut_off_on_resume(tmp_path):
    log = PointsLog(tmp_path / "p.jsonl", "h")
    log.append(1.0, {"beta": 1.0})
    with open(log.path, "a") as f:  # a crash in the middle of the second line
        f.write('{"key": 2.0, "settings_hash": "h", "poi')
    with pytest.warns(RuntimeWarning, match="line 2 was cut short"):
        logged = log.resume()
    assert logged.take(1.0) == {"beta": 1.0} and logged.take(2.0) is None
    log.append(2.0, {"beta": 2.0})  # the resumed run appends after the good lines
    again = log.read()
    assert again.take(1.0) == {"beta": 1.0} and again.take(2.0) == {"beta": 2.0}


def test_a_damaged_line_before_the_last_is_an_error_not_a_silent_gap(tmp_path):
    log = PointsLog(tmp_path / "p.jsonl", "h")
    log.path.write_text('{"key": 1.0, "settings_hash": "h", "point": {}}\nnot json\n'
                        '{"key": 2.0, "settings_hash": "h", "point": {}}\n')
    with pytest.raises(ValueError, match="line 2 is not a points-log entry"):
        log.read()


def test_a_log_of_other_settings_is_refused_whole(tmp_path):
    path = tmp_path / "p.jsonl"
    PointsLog(path, settings_hash("rd_gap", {"steps": 3})).append(1.0, {"beta": 1.0})
    with pytest.raises(SettingsMismatch, match="1 point\\(s\\) written with other settings"):
        PointsLog(path, settings_hash("rd_gap", {"steps": 4})).read()
    with pytest.raises(SettingsMismatch):  # the same settings under another study's name are other settings
        PointsLog(path, settings_hash("mi_bench", {"steps": 3})).read()
    assert PointsLog(path, settings_hash("rd_gap", {"steps": 3})).read().take(1.0) == {"beta": 1.0}


def test_opening_a_log(tmp_path, capsys):
    path = tmp_path / "out" / "r.json.points.jsonl"
    assert open_points_log(None, "h", resume=True)[0] is None  # no --json, no checkpoint dir: no log
    log, logged = open_points_log(path, "h", resume=True)
    assert len(logged) == 0 and "no points log" in capsys.readouterr().err and not path.exists()
    log.append(1.0, {"beta": 1.0})
    log, logged = open_points_log(path, "h", resume=True)
    assert logged.take(1.0) == {"beta": 1.0}
    log, logged = open_points_log(path, "h", resume=False)  # a run without --resume starts a new log
    assert len(logged) == 0 and path.read_text() == ""
