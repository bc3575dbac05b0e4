"""analysis.report and analysis.plots: the one report writer and the one figure style of the commands."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from analysis.plots import check_figure_path, figure_style, palette, save_figure, styled_figure
from analysis.report import UNITS, format_number, read_report, ruled_table, save_table, study_report, write_report


@dataclass
class _Settings:
    steps: int = 3
    betas: list[float] = field(default_factory=lambda: [0.1, 0.5])


def test_report_round_trips_every_field_in_order(tmp_path):
    report = study_report({
        "source": "gaussian", "unit": "bits", "runtime_s": 1.25, "settings": _Settings(),
        "points": [{"beta": 0.1, "rate_kl": np.float64(2.5), "rate_kl_ci": np.array([2.4, 2.6]), "ok": np.bool_(True)}],
    })
    path = write_report(tmp_path / "deep" / "folder" / "r.json", report)
    back = read_report(path)
    assert list(back) == ["source", "unit", "runtime_s", "settings", "points"]
    assert back["unit"] == "bits"
    assert back["settings"] == {"steps": 3, "betas": [0.1, 0.5]}
    assert back["points"] == [{"beta": 0.1, "rate_kl": 2.5, "rate_kl_ci": [2.4, 2.6], "ok": True}]
    assert json.loads(path.read_text()) == back


@pytest.mark.parametrize("missing", ["unit", "runtime_s", "settings"])
def test_report_must_state_unit_runtime_and_settings(missing):
    fields = {"unit": "bits", "runtime_s": 0.0, "settings": {}}
    del fields[missing]
    with pytest.raises(ValueError, match=missing):
        study_report(fields)


def test_report_refuses_an_unknown_unit_and_unwritable_values(tmp_path):
    assert UNITS == ("bits", "nats", "dB")
    with pytest.raises(ValueError, match="unit"):
        study_report({"unit": "bit", "runtime_s": 0.0, "settings": {}})
    with pytest.raises(TypeError, match="settings"):
        study_report({"unit": "bits", "runtime_s": 0.0, "settings": 3})
    with pytest.raises(TypeError, match="not JSON serialisable"):
        write_report(tmp_path / "r.json", {"unit": "bits", "x": object()})


def test_committed_reports_state_their_unit():
    """The published benchmark reports carry the fields the writer requires (same structure after the
    restructuring)."""
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    for name in ("rd_gap_gaussian", "mi_bench", "jscc_rho1", "image_rd_smoke", "claims"):
        report = read_report(results / f"{name}.json")
        assert study_report(report) == report, name


def test_table_cells_and_layout(tmp_path):
    assert format_number(1.23456) == "1.2346"
    assert format_number(None) == "-" and format_number(float("inf"), blank_nonfinite=True) == "-"
    assert format_number(2.0, 1, sign=True) == "+2.0"
    assert format_number(-12345.0, 3, sign=True, exponent_from=1e4) == "-1.23e+04"
    table = ruled_table("  x", [" 1", " 2"])
    assert table.splitlines() == ["  x", "---", " 1", " 2"]
    assert save_table(tmp_path / "t" / "table.txt", table).read_text() == table + "\n"


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_a_styled_figure_is_written(tmp_path, suffix):
    path = tmp_path / "sub" / f"fig{suffix}"
    with styled_figure(path, 1, 2, figsize=(4, 2)) as (fig, axes):
        axes[0].plot([0, 1], [0, 1], color=palette()[0])
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(b"\x89PNG" if suffix == ".png" else b"%PDF")


def test_unknown_figure_extension_is_refused_before_drawing(tmp_path):
    with pytest.raises(ValueError, match="figure"):
        check_figure_path(tmp_path / "fig.jpg")
    with pytest.raises(ValueError, match="figure"):
        with styled_figure(tmp_path / "fig.txt"):
            pytest.fail("the block must not run for a bad path")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "fig.gif")
    assert not plt.fignum_exists(fig.number)  # closed even when refused
    assert not list(tmp_path.iterdir())


def test_the_style_is_scoped_and_a_failed_figure_is_not_written(tmp_path):
    import matplotlib as mpl
    import matplotlib.pyplot as plt

    before = dict(mpl.rcParams)
    with figure_style():
        assert mpl.rcParams["axes.grid"]
    assert dict(mpl.rcParams) == before
    open_before = plt.get_fignums()
    with pytest.raises(RuntimeError):
        with styled_figure(tmp_path / "f.png"):
            raise RuntimeError("drawing failed")
    assert plt.get_fignums() == open_before and not (tmp_path / "f.png").exists()


def test_every_command_refuses_a_bad_plot_path_with_exit_2(capsys):
    from analysis import image_rd, jscc, mi_bench, rd_gap

    for main in (rd_gap.main, mi_bench.main, jscc.main, image_rd.main):
        with pytest.raises(SystemExit) as exit_info:
            main(["--plot", "figure.jpg"])
        assert exit_info.value.code == 2
        assert "figure.jpg" in capsys.readouterr().err
