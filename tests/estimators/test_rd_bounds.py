"""estimators.rd: the test channel's closed forms, the dual bound, the envelope, and the bounds bracketing known R(D).

Statistical checks use fixed seeds; their tolerances are multiples of the standard errors the code
reports (or computes here from the Monte Carlo sample), said at each check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.rd import (
    FitConfig,
    MixtureReproduction,
    RDBoundsConfig,
    dual_line,
    estimate_rd_bounds,
    fit_reproduction,
    lower_bounds,
    principal_variances,
    upper_point,
    water_level_slope,
)
from estimators.rd.dual import DualLine
from synthetic import get_source
from estimators.rd.curve import time_sharing_envelope
from synthetic.rd import gaussian_rd


def _random_mixture(seed: int, k: int, d: int, point_masses: bool = False) -> MixtureReproduction:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(k, d, generator=g, dtype=torch.float64)
    factors = None if point_masses else 0.7 * torch.randn(k, d, d, generator=g, dtype=torch.float64)
    m = MixtureReproduction(means, factors)
    with torch.no_grad():
        m.logits.copy_(torch.randn(k, generator=g, dtype=torch.float64))
    return m


def _rotation(seed: int, d: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


@pytest.mark.parametrize("point_masses", [False, True])
def test_channel_terms_match_monte_carlo(point_masses: bool) -> None:
    # u(x) = E_m e^{-lam |x-Y|^2} and D(x) = E_q |x-Y|^2 by 400k draws from m; tolerance 5 Monte Carlo standard errors
    m = _random_mixture(0, 3, 2, point_masses)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lam = 0.6
    terms = m.channel(x, lam)
    y = m.sample(400_000, torch.Generator().manual_seed(2))
    sq = torch.cdist(x, y).square()
    w = torch.exp(-lam * sq)
    u_mc = w.mean(1)
    u_se = w.std(1) / math.sqrt(y.shape[0])
    assert torch.all((torch.exp(-terms.neg_log_u) - u_mc).abs() <= 5 * u_se + 1e-12)
    # D(x) = E[w rho] / E[w]: the ratio's delta-method standard error
    d_mc = (w * sq).mean(1) / u_mc
    infl = (w * (sq - d_mc[:, None])) / u_mc[:, None]
    d_se = infl.std(1) / math.sqrt(y.shape[0])
    assert torch.all((terms.distortion.detach() - d_mc).abs() <= 5 * d_se + 1e-12)


@pytest.mark.parametrize("point_masses", [False, True])
def test_channel_samples_have_the_closed_form_distortion(point_masses: bool) -> None:
    # y ~ q_m(.|x) by sample_channel: the mean of |x - y|^2 over 200k draws is D(x) within 5 standard errors
    m = _random_mixture(3, 3, 2, point_masses)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    lam, reps = 0.8, 200_000
    y = m.sample_channel(x.repeat_interleave(reps, 0), lam, torch.Generator().manual_seed(5)).view(3, reps, 2)
    sq = (x[:, None, :] - y).square().sum(-1)
    se = sq.std(1) / math.sqrt(reps)
    assert torch.all((sq.mean(1) - m.channel(x, lam).distortion.detach()).abs() <= 5 * se + 1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4), d=st.integers(1, 4), lam=st.floats(0.05, 5.0))
def test_channel_is_rotation_invariant(seed: int, k: int, d: int, lam: float) -> None:
    # |Qx - Qy| = |x - y|: the same channel, rotated with the data, gives the same u, D and KL per sample
    m = _random_mixture(seed, k, d)
    q = _rotation(seed + 1, d)
    rotated = MixtureReproduction(m.means.detach() @ q.T, q @ m.factors.detach())  # type: ignore[union-attr]
    with torch.no_grad():
        rotated.logits.copy_(m.logits)
    x = torch.randn(16, d, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    a, b = m.channel(x, lam), rotated.channel(x @ q.T, lam)
    torch.testing.assert_close(a.neg_log_u, b.neg_log_u, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(a.distortion, b.distortion, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), d=st.integers(1, 3), lam=st.floats(0.05, 5.0))
def test_point_masses_are_the_zero_covariance_mixture_and_kl_is_nonnegative(seed: int, k: int, d: int, lam: float) -> None:
    m = _random_mixture(seed, k, d, point_masses=True)
    zero = MixtureReproduction(m.means.detach(), torch.zeros(k, d, d, dtype=torch.float64))
    with torch.no_grad():
        zero.logits.copy_(m.logits)
    x = 2 * torch.randn(32, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    a, b = m.channel(x, lam), zero.channel(x, lam)
    torch.testing.assert_close(a.neg_log_u, b.neg_log_u, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a.distortion, b.distortion, rtol=1e-10, atol=1e-10)
    # KL(q(.|x) || m) >= 0 before the clamp, and for point masses sum_k q_k log(q_k / w_k) <= log(1 / min w)
    raw = (a.neg_log_u - lam * a.distortion).detach()
    assert torch.all(raw >= -1e-9)
    assert torch.all(raw <= -m.log_weights().min().item() + 1e-9)


def _gaussian(d: int, n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    variances = np.array([2.0 ** (-i) for i in range(d)]) * 2.0
    q = _rotation(100 + d, d)
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * torch.from_numpy(variances).sqrt()) @ q.T
    return x, variances


@pytest.mark.parametrize("d", [1, 4])
def test_water_filled_gaussian_channel_attains_the_gaussian_rd(d: int) -> None:
    # On Gaussian data the untrained water-filling start is the optimal channel: its held-out point lies
    # on R(D). The gap R_hat - R(D_hat) is the error of the Lagrangian mean (R + lam D), so its
    # tolerance is 4 standard errors of that mean (computed here from the per-sample terms).
    xt, variances = _gaussian(d, 32768, 0)
    xe, _ = _gaussian(d, 65536, 1)
    for D in (0.2 * variances.sum(), 0.6 * variances.sum()):
        lam = water_level_slope(principal_variances(xt), D)
        m = fit_reproduction(xt, lam, FitConfig(family="gaussian"))
        p = upper_point(m, xe, lam, "gaussian")
        lagr = m.channel(xe, lam).neg_log_u.detach()
        se = float(lagr.std() / math.sqrt(len(xe)))
        assert abs(p.rate - gaussian_rd(variances, p.distortion)) <= 4 * se


@settings(max_examples=40, deadline=None)
@given(
    ds=st.lists(st.floats(0.05, 5.0), min_size=1, max_size=6, unique=True),
    rs=st.lists(st.floats(0.0, 5.0), min_size=6, max_size=6),
)
def test_time_sharing_envelope_is_non_increasing_convex_and_below_the_points(ds: list[float], rs: list[float]) -> None:
    Ds, Rs = np.array(ds), np.array(rs[: len(ds)])
    grid = np.linspace(min(ds), 6.0, 41)
    env = np.array([time_sharing_envelope(Ds, Rs, D)[0] for D in grid])
    assert np.all(np.isfinite(env))
    assert np.all(np.diff(env) <= 1e-12)
    assert np.all(env[1:-1] <= 0.5 * (env[:-2] + env[2:]) + 1e-9)
    for D_k, R_k in zip(Ds, Rs):
        assert np.all(env[grid >= D_k] <= R_k + 1e-12)


def test_lower_bounds_are_the_best_line_or_zero() -> None:
    lines = [DualLine(2.0, 3.0, 0.1, 0.0, (0.0,), 100.0, 10), DualLine(0.5, 1.0, 0.1, 0.0, (0.0,), 100.0, 10)]
    out = lower_bounds(lines, [0.5, 1.0, 1.9, 3.0], z=2.0)
    assert [round(b.value, 9) for b in out] == [2.0, 1.0, 0.05, 0.0]
    for b in out:
        assert 0.0 <= b.ci[0] <= b.value <= b.ci[1]
    assert out[-1].method == "zero"


def test_dual_line_lies_below_the_gaussian_rd() -> None:
    # a lower bound: its intercept minus lam D stays below R(D) within 3 standard errors (reported by dual_line)
    xt, variances = _gaussian(2, 32768, 2)
    xe, _ = _gaussian(2, 65536, 3)
    D = 0.3 * variances.sum()
    lam = water_level_slope(principal_variances(xt), D)
    m = fit_reproduction(xt, lam, FitConfig(family="gaussian"))
    line = dual_line(m, xe, lam, search=xt, starts=64, steps=10)
    R = gaussian_rd(variances, D)
    assert line.at(D) <= R + 3 * line.intercept_se
    # and, the water-filled u being optimal, it is close: c <= 1 up to sampling noise
    assert line.at(D) >= R - 0.05
    assert line.effective_samples > 1000


def test_bounds_bracket_the_gaussian_rd_and_each_other_under_rotation() -> None:
    # both bounds at every D bracket reverse water-filling within their 95 % intervals, and the same
    # holds for the data rotated (R(D) is rotation invariant; the intervals of one run cover the other's R(D))
    xt, variances = _gaussian(3, 16384, 4)
    xe, _ = _gaussian(3, 32768, 5)
    Ds = list(np.geomspace(0.15, 0.8, 4) * variances.sum())
    cfg = RDBoundsConfig(families=("gaussian", "mixture"), components=2, steps=60, dual_starts=64, dual_steps=10)
    q = _rotation(7, 3)
    runs = [estimate_rd_bounds(xt, xe, Ds, cfg), estimate_rd_bounds(xt @ q.T, xe @ q.T, Ds, cfg)]
    for r in runs:
        for D, up, low in zip(Ds, r.upper, r.lower):
            R = gaussian_rd(variances, D)
            assert low.ci[0] <= R <= up.ci[1]
            assert low.ci[0] <= up.ci[1]
        ups = [b.value for b in r.upper]
        lows = [b.value for b in r.lower]
        assert np.all(np.diff(ups) <= 1e-12) and np.all(np.diff(lows) <= 1e-12)
        slopes = np.diff(ups) / np.diff(Ds)  # convex on the grid: the chords' slopes do not fall
        assert np.all(np.diff(slopes) >= -1e-9)
    for a, b in zip(runs[0].upper, runs[1].lower):
        assert b.ci[0] <= a.ci[1]


def test_bounds_bracket_the_certified_laplace_table() -> None:
    src = get_source("laplace")
    xt = src.sample(16384, seed=1).double()
    xe = src.sample(65536, seed=2).double()
    Ds = [0.15, 0.4, 1.0]
    cfg = RDBoundsConfig(families=("mixture",), components=8, steps=150, dual_starts=64, dual_steps=10)
    r = estimate_rd_bounds(xt, xe, Ds, cfg)
    for D, up, low in zip(Ds, r.upper, r.lower):
        rd = src.rate_distortion(D)
        assert low.ci[0] <= rd.upper and rd.lower <= up.ci[1]
        # informative: within 0.15 bit of the certified bracket on both sides at these rates (0.3-1.8 bits)
        assert up.value - rd.upper <= 0.15 * math.log(2)
        assert rd.lower - low.value <= 0.15 * math.log(2)


def test_bad_arguments_are_refused() -> None:
    x = torch.randn(100, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="distortions must lie in"):
        estimate_rd_bounds(x[:50], x[50:], [100.0])
    with pytest.raises(ValueError, match="families"):
        RDBoundsConfig(families=("flows",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no family applies"):
        estimate_rd_bounds(torch.randn(100, 5), torch.randn(100, 5), [1.0], RDBoundsConfig(families=("particles",)))
    with pytest.raises(ValueError, match="lam must be"):
        fit_reproduction(x, -1.0)


def test_cli_refuses_bad_arguments_with_exit_2(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from analysis import rd_bounds

    for argv, words in (
        (["--points", "1"], "--points"),
        (["--distortions", "5.0"], "--distortions must lie in"),
        (["--source", "gaussian", "--data", "digits"], "either --source or --data"),
        (["--data", str(tmp_path / "none.npy")], "does not exist"),
        (["--max-rate", "-1"], "--max-rate"),
        (["--plot", str(tmp_path / "f.jpeg")], ".png, .pdf or .svg"),
    ):
        with pytest.raises(SystemExit) as e:
            rd_bounds.main(argv)
        assert e.value.code == 2
        assert words in capsys.readouterr().err


def test_cli_on_data_writes_report_and_cache_that_rd_gap_reads(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from analysis import rd_bounds

    monkeypatch.setenv("IBFLOW_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4000, 2)) * np.array([1.0, 0.5])
    path = tmp_path / "x.npy"
    np.save(path, data)
    out = tmp_path / "r.json"
    code = rd_bounds.main(["--data", str(path), "--points", "3", "--steps", "20", "--families", "gaussian",
                           "--json", str(out), "--plot", str(tmp_path / "r.png"), "--no-progress"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["data"] == str(path) and report["unit"] == "bits" and report["dim"] == 2
    assert (report["n"], report["n_train"], report["n_eval"]) == (4000, 2000, 2000)
    for p in report["points"]:
        assert set(p) >= {"distortion", "upper", "upper_ci", "lower", "lower_ci", "method_upper", "method_lower"}
        # 2000 held-out rows: the point estimates may cross by sampling error, the intervals must meet
        assert p["lower_ci"][0] <= p["upper_ci"][1]
        assert p["upper_ci"][0] <= p["upper"] <= p["upper_ci"][1] and p["lower_ci"][0] <= p["lower"] <= p["lower_ci"][1]
    src = get_source(f"data:{path}")
    assert src.load_cached_bounds()
    rd = src.rate_distortion(report["points"][-1]["distortion"])
    assert 0.0 <= rd.lower <= rd.upper
    assert (tmp_path / "r.png").stat().st_size > 0
