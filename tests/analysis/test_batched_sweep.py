"""rd_gap --batched: the betas of a 1-D FlowCodec sweep train together and measure as before; where
batching does not apply (a 4-d source) every point trains alone, as without the flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import rd_gap

SMALL = ["--betas", "0.2", "1.0", "--steps", "60", "--batch-size", "256", "--eval-samples", "8192", "--jobs", "1",
         "--no-progress"]


def _points(argv: list[str], path: Path) -> list[dict]:
    assert rd_gap.main(argv + ["--json", str(path)]) == 0
    return json.loads(path.read_text())["points"]


def test_a_batched_sweep_measures_what_the_separate_runs_measure(tmp_path: Path) -> None:
    alone = _points(["--source", "gaussian", *SMALL, "--no-batched"], tmp_path / "a.json")
    together = _points(["--source", "gaussian", *SMALL, "--batched"], tmp_path / "b.json")
    assert [p["beta"] for p in together] == [p["beta"] for p in alone]
    for a, b in zip(alone, together):
        # the same training up to float32 rounding of the batched arithmetic (60 Adam steps): the same
        # test samples and noise then measure D and E KL alike, far inside their SEs (~0.004 bit)
        assert b["distortion"] == pytest.approx(a["distortion"], rel=1e-3)
        assert b["rate_kl"] == pytest.approx(a["rate_kl"], abs=1e-3)
        assert b["violations"] == a["violations"] == []
        assert b["train_seconds"] > 0


def test_where_batching_does_not_apply_every_point_trains_alone(tmp_path: Path) -> None:
    argv = ["--source", "gaussian-vector", "--variances", "1", "0.25", *SMALL]
    alone = _points(argv + ["--no-batched"], tmp_path / "a.json")
    together = _points(argv + ["--batched"], tmp_path / "b.json")
    for a, b in zip(alone, together):
        assert b["rate_kl"] == a["rate_kl"] and b["distortion"] == a["distortion"]
