"""The banana source (Ballé et al. 2021): direction of the bijector, exact moments and entropy,
tail-mass box, normalisation, and the certified R(D) table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from contracts.interface import RDBound
from synthetic import BananaSource, get_source
from synthetic.rd_curve import RDCurve
from synthetic.sources import banana as banana_module
from synthetic.sources.banana import BananaOptions
from synthetic.tables import DATA
from tests.synthetic.table_checks import (
    check_builds_and_caches_other_tables,
    check_rd_bracket,
    check_reads_the_shipped_table,
)

N = 200_000


def tfp_forward(x: np.ndarray) -> np.ndarray:
    """B(x) written out as TFP's Chain([RealNVP(shift = .1 u1^2), ScaleMatvec(R(240)), Shift([1, 1])])
    computes it: the rightmost bijector first, one matrix-vector product per point."""
    phi = math.radians(240.0)
    rot = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    out = []
    for point in x:
        u = rot @ (point + np.array([1.0, 1.0]))
        out.append([u[0], u[1] + 0.1 * u[0] ** 2])  # RealNVP, num_masked=1: u1 passes, u2 is shifted
    return np.array(out)


def test_to_base_is_the_tfp_chain_and_sampling_inverts_it():
    src = get_source("banana")
    x = src.sample(2000, seed=1, dtype=torch.float64)
    assert np.allclose(src.to_base(x).numpy(), tfp_forward(x.numpy()), atol=1e-12)
    # B(sample) is the base Gaussian N(0, diag(9, 0.25)): each sample covariance entry has
    # standard error sqrt(var(y_i y_j) / n) (var y_i^2 = 2 s_i^4 on the diagonal); allow 4
    y = src.to_base(src.sample(N, seed=2, dtype=torch.float64)).numpy()
    base = np.diag([9.0, 0.25])
    se = np.sqrt(np.array([[2 * 81, 9 * 0.25], [9 * 0.25, 2 * 0.0625]]) / N)
    assert np.all(np.abs(np.cov(y.T) - base) <= 4 * se)
    assert np.all(np.abs(y.mean(0)) <= 4 * np.sqrt(np.diag(base) / N))


def test_log_prob_is_the_base_density_and_the_jacobian_is_one():
    src = get_source("banana")
    x = src.sample(5, seed=3, dtype=torch.float64)
    y = src.to_base(x)
    base = torch.distributions.Normal(torch.zeros(2, dtype=torch.float64), torch.tensor([3.0, 0.5], dtype=torch.float64))
    assert torch.allclose(src.log_prob(x), base.log_prob(y).sum(-1), atol=1e-12)
    for point in x:
        jac = torch.autograd.functional.jacobian(lambda p: src.to_base(p[None])[0], point)
        assert abs(float(torch.linalg.det(jac)) - 1.0) < 1e-12


def test_sampling_moments_and_entropy():
    src = get_source("banana")
    x = src.sample(N, seed=0, dtype=torch.float64)
    assert x.shape == (N, 2) and torch.equal(x, src.sample(N, seed=0, dtype=torch.float64))
    assert src.sample(3, seed=0).dtype == torch.float32
    xn = x.numpy()
    # the exact variance sum: 9 + 0.25 + 0.01 * 2 * 81
    assert math.isclose(float(src.variance().sum()), 10.87, rel_tol=1e-12)
    # sample mean and covariance vs the closed forms, tolerance 4 standard errors estimated from
    # the samples themselves (the arms make x heavy-tailed: var of a product is estimated, not assumed)
    assert np.all(np.abs(xn.mean(0) - src.mean()) <= 4 * xn.std(0) / math.sqrt(N))
    c = xn - src.mean()
    for i in range(2):
        for j in range(2):
            prod = c[:, i] * c[:, j]
            assert abs(prod.mean() - src.covariance()[i, j]) <= 4 * prod.std() / math.sqrt(N)
    # -E log p(X) = h(X) = log(2 pi e * 3 * 0.5); standard error std(log p) / sqrt(n); allow 4
    lp = src.log_prob(x).numpy()
    assert math.isclose(src.differential_entropy(), math.log(2 * math.pi * math.e * 1.5), rel_tol=1e-14)
    assert abs(-lp.mean() - src.differential_entropy()) <= 4 * lp.std() / math.sqrt(N)


def test_log_prob_integrates_to_one_on_the_support_box():
    src = get_source("banana")
    lo, hi = src.support_box(1e-9)
    n = 1200
    axes = [np.linspace(a, b, n) for a, b in zip(lo, hi)]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    cell = np.prod([(b - a) / (n - 1) for a, b in zip(lo, hi)])
    mass = float(np.exp(src.log_density_np(mesh)).sum() * cell)
    # the box holds >= 1 - 1e-9; the density is smooth and ~0 at the edges, so the Riemann sum
    # (h = 0.04, a tenth of the narrow width 0.5) is accurate far beyond 1e-6
    assert abs(mass - 1.0) < 1e-6


@settings(max_examples=25, deadline=None)
@given(
    st.floats(0.2, 4.0),
    st.floats(0.2, 4.0),
    st.floats(-0.5, 0.5),
    st.floats(0.0, 360.0),
    st.floats(-3.0, 3.0),
    st.floats(1e-12, 0.5),
)
def test_support_box_is_the_exact_hull_of_the_base_box_image(s1, s2, c, angle, t, tail):
    src = BananaSource((s1, s2), c, angle, (t, -t))
    lo, hi = src.support_box(tail)
    z = -float(special.ndtri(tail / 4))
    # the image of the boundary of the base box |y_i| <= z s_i, densely sampled
    g = np.linspace(-1.0, 1.0, 4001)
    a, b = z * s1, z * s2
    y = np.concatenate([np.stack([g * a, np.full_like(g, b)], 1), np.stack([g * a, np.full_like(g, -b)], 1),
                        np.stack([np.full_like(g, a), g * b], 1), np.stack([np.full_like(g, -a), g * b], 1)])
    u = np.stack([y[:, 0], y[:, 1] - c * y[:, 0] ** 2], 1)
    x = u @ src.rotation - src.shift
    span = hi - lo
    assert np.all(x >= lo - 1e-9 * span) and np.all(x <= hi + 1e-9 * span)
    # and the box is tight: the hull touches each side (to the boundary sampling's resolution)
    assert np.all(np.abs(x.min(0) - lo) <= 1e-5 * span) and np.all(np.abs(x.max(0) - hi) <= 1e-5 * span)


def test_support_box_leaves_out_at_most_tail():
    src = get_source("banana")
    x = src.sample(N, seed=4, dtype=torch.float64).numpy()
    for tail in (0.3, 0.05):
        lo, hi = src.support_box(tail)
        out = float(np.mean(np.any((x < lo) | (x > hi), axis=1)))
        # the fraction outside is a binomial proportion: 4 standard errors above tail at most
        assert out <= tail + 4 * math.sqrt(tail * (1 - tail) / N)


def test_rd_bracket_over_the_audit_range():
    src = get_source("banana")
    lo, up = check_rd_bracket(src, np.geomspace(0.03, 0.98 * src.variance().sum(), 30))
    assert src.rate_distortion(float(src.variance().sum())) == RDBound(0.0, 0.0)
    # the bracket is useful where codecs are audited (D ~ 0.05-3, 1-6 bits): on the shipped table
    # it is 0.022 bit at most (D ~ 0.42, between two certificates), 0.008 bit in the median
    audit = np.geomspace(0.05, 3.0, 40)
    widths = [(b.upper - b.lower) / math.log(2) for b in map(src.rate_distortion, audit)]
    assert max(widths) < 0.025


def test_shipped_table_is_the_defaults_and_consistent():
    src = get_source("banana")
    assert src.params() == BananaSource().params() == get_source("banana", **BananaOptions().__dict__).params()
    check_reads_the_shipped_table("banana", (0.05, 0.5, 3.0))


def test_other_parameters_build_and_cache_their_own_table(tmp_path, monkeypatch):
    check_builds_and_caches_other_tables(monkeypatch, tmp_path, "banana", banana_module, "build_banana_curve", {"curvature": 0.2}, 1.0)


def test_optimal_distortion_follows_the_table_slopes():
    src = get_source("banana")
    curve = RDCurve.load(DATA / "banana_default.json")
    for D, lam in zip(curve.D, curve.slope):
        assert math.isclose(src.optimal_distortion(1.0 / lam), D, rel_tol=1e-9)
    ds = [src.optimal_distortion(b) for b in (0.05, 0.2, 1.0)]
    assert all(d is not None for d in ds) and ds == sorted(ds)


@pytest.mark.parametrize(
    "params, arg",
    [
        ({"scales": [3.0, -0.5]}, "scales"),
        ({"scales": [3.0, 0.0]}, "scales"),
        ({"scales": [3.0]}, "scales"),
        ({"curvature": math.nan}, "curvature"),
        ({"angle_deg": math.inf}, "angle_deg"),
        ({"shift": [1.0, 2.0, 3.0]}, "shift"),
        ({"rho": 0.5}, "bad parameters"),
    ],
)
def test_bad_parameters(params, arg):
    with pytest.raises(ValueError, match=arg):
        get_source("banana", **params)


def test_bad_arguments():
    src = get_source("banana")
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="D must"):
            src.rate_distortion(bad)
    with pytest.raises(ValueError, match="tail"):
        src.support_box(1.0)
    with pytest.raises(ValueError, match="n must"):
        src.sample(0)
