"""analysis.codec_compare and analysis.rd_summary: the summary against R(D), default betas, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import codec_compare
from analysis.rd_summary import betas_for_rates, distortion_at_rate, summarize_curve
from synthetic import get_source

GAUSS = get_source("gaussian")


def _points_with_gap(ds, gaps):
    return [{"distortion_operational": d, "rate_operational": 0.5 * math.log2(1 / d) + g, "gap_operational": g}
            for d, g in zip(ds, gaps)]


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 0.5), st.lists(st.floats(0.004, 0.9), min_size=2, max_size=6, unique=True))
def test_a_constant_gap_is_the_mean_gap_and_the_gap_at_every_matched_rate(c, ds):
    ds = sorted(ds)
    if ds[-1] / ds[0] < 1.5:
        return
    s = summarize_curve(_points_with_gap(ds, [c] * len(ds)), GAUSS, [1.0, 2.0], 1.0)
    assert s.mean_gap_bits == pytest.approx(c, abs=1e-12)
    for r in (1.0, 2.0):
        d = 2.0 ** (-2 * r)  # R(D) = r bits at D = 2^(-2r)
        if min(abs(math.log(d / ds[0])), abs(math.log(d / ds[-1]))) < 1e-6:
            continue  # on the range's edge the bisection's last digit decides
        assert (s.gap_at[r] is None) == (not ds[0] <= d <= ds[-1])
        if s.gap_at[r] is not None:
            assert s.gap_at[r] == pytest.approx(c, abs=1e-12)
    assert s.bd_rate_percent > 0  # more rate than R(D) everywhere


def test_bd_rate_grows_with_the_gap():
    ds = [0.02, 0.05, 0.1, 0.2, 0.4]
    bds = [summarize_curve(_points_with_gap(ds, [c] * 5), GAUSS, [], 1.0).bd_rate_percent for c in (0.05, 0.1, 0.2)]
    assert bds[0] < bds[1] < bds[2]


def test_default_betas_skip_rates_outside_bounds_estimated_from_data():
    from synthetic.sources.empirical import EmpiricalSource

    # bounds as analysis.rd_bounds caches them, of a unit Gaussian on D in [0.1, 0.9]: R(0.1) = 1.66 bits,
    # so of 0.5..3.5 bits only 0.5, 1 and 1.5 lie where the upper bound is known
    source = EmpiricalSource(np.random.default_rng(0).normal(size=(64, 1)), "toy")
    grid = np.linspace(0.1, 0.9, 9)
    source.attach_bounds({
        "d_max": 1.0,
        "points": [{"distortion": float(d), "rate": float(0.5 * np.log(1 / d))} for d in grid],
        "lines": [{"lam": float(1 / (2 * d)), "intercept": float(0.5 * np.log(1 / d) + 0.5)} for d in grid],
    })
    betas = betas_for_rates(source, [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], 1.0)
    assert len(betas) == 3 == len(set(betas))
    # stationary where R(D) = 1/2 log(1/D): beta = 2 D, D = 2^(-2r); the bounds are chords and tangents
    # of that curve 0.1 apart, so the slope of their midpoint is within 25 % of it
    assert betas == pytest.approx([2 * 2 ** (-2 * r) for r in (0.5, 1.0, 1.5)], rel=0.25)


@pytest.mark.parametrize("name", ["laplace", "mixture"])
def test_default_betas_are_stationary_on_rd(name):
    source = get_source(name)
    d_max = float(np.sum(source.variance()))
    (beta,) = betas_for_rates(source, [1.5], d_max)
    D = distortion_at_rate(source, 1.5, d_max)
    # D minimises D + beta R(D) among its neighbours (R convex); the bracket midpoint is used on both sides
    lagrangian = lambda d: d + beta * source.rate_distortion(d).mid  # noqa: E731
    assert lagrangian(D) <= min(lagrangian(D * 1.1), lagrangian(D / 1.1)) + 1e-9


QUICK = ["--jobs", "1", "--no-progress", "--eval-samples", "8192", "--fit-samples", "2000", "--steps", "5"]
ROUND = "tests.analysis.audit_parts:FittedRounding"


def test_cli_compares_codecs_and_draws_cells(tmp_path, capsys):
    out, cells = tmp_path / "c.json", tmp_path / "cells.png"
    rc = codec_compare.main(QUICK + ["--source", "gaussian-vector", "--variances", "1.0", "0.5", "--codecs", ROUND,
                                     "--betas", "0.05", "0.2", "--json", str(out), "--cells", str(cells)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["unit"] == "bits" and report["codecs"] == [ROUND]
    assert len(report["points"]) == 2 and cells.stat().st_size > 0
    # rounding at step sqrt(6 beta) in each of 2 dims: the cells in view are at least the grid's
    assert report["cells"][ROUND] >= 4
    assert set(report["summary"]["codecs"][ROUND]) >= {"bd_rate_percent", "mean_gap_bits", "gap_at_rate"}
    assert "BD-rate vs R(D)" in capsys.readouterr().out


def test_train_options_replace_the_sweep_settings_for_one_codec_only():
    from analysis.codec_compare import _settings, build_parser

    args = build_parser().parse_args(["--codecs", "ntc", "uniform", "--lr", "0.02", "--train-options", '{"ntc": {"lr": 0.002, "steps": 7}}'])
    _, settings = _settings(args)
    assert (settings.for_codec("ntc").train.lr, settings.for_codec("ntc").train.steps) == (0.002, 7)
    assert (settings.for_codec("uniform").train.lr, settings.for_codec("uniform").train.steps) == (0.02, 800)


def test_cli_exits_1_on_a_violation(tmp_path, capsys):
    rc = codec_compare.main(QUICK + ["--codecs", "tests.analysis.audit_parts:CheatingCodec", "--betas", "0.01"])
    assert rc == 1
    assert "VIOLATION" in capsys.readouterr().err


@pytest.mark.parametrize("argv, needle", [
    (["--cells", "x.png"], "--cells"),
    (["--codecs", "jscc"], "vector"),
    (["--codecs", "no-such-codec"], "--codecs"),
    (["--codecs", ROUND, ROUND], "twice"),
    (["--codecs", ROUND, "--codec-options", '{"ntc": {}}'], "--codec-options"),
    (["--betas", "-1"], "--betas"),
    (["--eval-samples", "100"], "--eval-samples"),
    (["--codecs", ROUND, "--train-options", '{"ntc": {"lr": 0.1}}'], "--train-options"),
    (["--codecs", ROUND, "--train-options", f'{{"{ROUND}": {{"rate": 0.1}}}}'], "the settings are"),
    (["--codecs", ROUND, "--train-options", f'{{"{ROUND}": {{"lr": -1}}}}'], "lr must be finite and > 0"),
])
def test_bad_arguments_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        codec_compare.main(["--no-progress"] + argv)
    assert e.value.code == 2
    assert needle in capsys.readouterr().err


class _PositionDependent:
    """Reconstructs each point shifted by its position's parity: no fixed cells (like a trellis path)."""

    def compress(self, x):
        return {"strings": [x.round() + 0.25 * (torch.arange(len(x))[:, None] % 2)], "shape": x.shape}

    def decompress(self, strings, shape):
        return {"x_hat": strings[0]}


def test_cells_are_refused_where_a_reconstruction_depends_on_the_stream():
    from analysis.cells import quantization_cells

    assert quantization_cells(_PositionDependent(), (-2.0, 2.0, -2.0, 2.0), resolution=32) is None
