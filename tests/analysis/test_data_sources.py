"""--source data:PATH.npy in the codec studies: refused before any work without cached R(D) bounds, and
measured on the held-out rows only, against the bounds analysis.rd_bounds cached."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis import codec_compare, rd_bounds, rd_gap
from synthetic import get_source


@pytest.fixture()
def data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IBFLOW_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "pairs.npy"
    np.save(path, np.random.default_rng(0).normal(size=(6000, 2)) * np.array([1.0, 0.5]))
    return path


def test_studies_refuse_data_without_bounds(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for main in (rd_gap.main, codec_compare.main):
        with pytest.raises(SystemExit) as e:
            main(["--source", f"data:{data_file}", "--codec" if main is rd_gap.main else "--codecs", "uniform"])
        assert e.value.code == 2
        assert "python -m analysis.rd_bounds --data" in capsys.readouterr().err


def test_rd_gap_measures_on_test_rows_against_the_cached_bounds(data_file: Path, tmp_path: Path) -> None:
    assert rd_bounds.main(["--data", str(data_file), "--points", "4", "--families", "gaussian", "--no-progress"]) == 0
    out = tmp_path / "gap.json"
    code = rd_gap.main(["--source", f"data:{data_file}", "--codec", "uniform", "--betas", "0.5", "--steps", "1",
                        "--eval-samples", "8192", "--fit-samples", "2000", "--no-progress", "--json", str(out)])
    assert code == 0
    point = json.loads(out.read_text())["points"][0]
    src = get_source(f"data:{data_file}")
    assert point["samples"] == len(src.rows("test")) == 3000  # capped at the held-out rows, none of them trained on
    rd = src.rate_distortion(point["distortion_operational"])
    assert rd.lower / np.log(2) <= point["rate_operational"]  # bits: a real code cannot beat the lower bound


def test_flowcodec_points_bound_rd_from_above_and_skip_a_diverged_fit(capsys: pytest.CaptureFixture[str]) -> None:
    import math

    import torch

    # N(0, 1): R(D) = 1/2 log(1/D) nats. Each point's E KL is an upper bound on I(X; Z) >= R(D) at its D;
    # the check allows 3 standard errors of the held-out mean of E KL (and of D, through R's slope).
    x = torch.randn(8192, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    points = rd_bounds.flowcodec_points(x[:4096], x[4096:], [2.0, 4.0], steps=150, seed=0, progress=False)
    assert len(points) == 2
    for p in points:
        slack = 3 * (p.rate_se + p.distortion_se / (2 * p.distortion))
        assert p.rate + slack >= 0.5 * math.log(1 / p.distortion)
    # an lr that blows the loss up: that slope gives no point, and says so
    assert rd_bounds.flowcodec_points(x[:4096], x[4096:], [2.0], steps=20, seed=0, progress=False, lr=1e6) == []
    assert "gives no upper point" in capsys.readouterr().err
