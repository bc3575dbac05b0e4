"""The correlated Laplace pair x = A l: density by change of variables, exact moments and entropy,
tail-mass box, normalisation, and the certified R(D) table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from contracts.interface import RDBound
from synthetic import CorrelatedLaplaceSource, get_source
from synthetic.rd_curve import RDCurve
from synthetic.sources import correlated_laplace as cl_module
from synthetic.tables import DATA
from tests.synthetic.table_checks import (
    check_builds_and_caches_other_tables,
    check_rd_bracket,
    check_reads_the_shipped_table,
)

N = 200_000


@settings(max_examples=20, deadline=None)
@given(st.floats(-0.99, 0.99), st.integers(0, 2**31 - 1))
def test_log_prob_is_the_change_of_variables(rho, seed):
    src = CorrelatedLaplaceSource(rho)
    x = src.sample(50, seed=seed, dtype=torch.float64)
    a = torch.tensor(src.mixing)
    comps = torch.linalg.solve(a, x.T).T
    lap = torch.distributions.Laplace(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1 / math.sqrt(2), dtype=torch.float64))
    expect = lap.log_prob(comps).sum(-1) - math.log(abs(float(torch.linalg.det(a))))
    assert torch.allclose(src.log_prob(x), expect, atol=1e-10)


def test_sampling_moments_and_entropy():
    src = get_source("correlated-laplace")
    x = src.sample(N, seed=0, dtype=torch.float64)
    assert x.shape == (N, 2) and torch.equal(x, src.sample(N, seed=0, dtype=torch.float64))
    assert src.sample(3, seed=0).dtype == torch.float32
    assert np.allclose(src.covariance(), [[1.0, 0.8], [0.8, 1.0]], atol=1e-15)
    xn = x.numpy()
    # sample moments vs the closed forms, 4 standard errors estimated from the samples
    assert np.all(np.abs(xn.mean(0)) <= 4 * xn.std(0) / math.sqrt(N))
    for i in range(2):
        for j in range(2):
            prod = xn[:, i] * xn[:, j]
            assert abs(prod.mean() - src.covariance()[i, j]) <= 4 * prod.std() / math.sqrt(N)
    # h(X) = 2 (1 + log 2b) + log|det A| with b = 1/sqrt 2, det A = sqrt(1 - rho^2) = 0.6
    h = 2 * (1 + math.log(2 / math.sqrt(2))) + math.log(0.6)
    assert math.isclose(src.differential_entropy(), h, rel_tol=1e-14)
    lp = src.log_prob(x).numpy()
    assert abs(-lp.mean() - h) <= 4 * lp.std() / math.sqrt(N)


@pytest.mark.parametrize("rho", [0.8, -0.3])
def test_log_prob_integrates_to_one_on_the_support_box(rho):
    src = CorrelatedLaplaceSource(rho)
    (lo1, lo2), (hi1, hi2) = src.support_box(1e-9)
    a21, a22 = src.mixing[1]

    def inner(x1: float) -> float:
        # the kink of |l_2| at x2 = rho x1 is a break point of the inner integral
        f = lambda x2: math.exp(src.log_density_np(np.array([[x1, x2]]))[0])  # noqa: E731
        return integrate.quad(f, lo2, hi2, points=[a21 * x1], limit=200, epsabs=1e-13)[0]

    mass, err = integrate.quad(inner, lo1, hi1, points=[0.0], limit=200, epsabs=1e-11)
    # the box holds >= 1 - 1e-9 of the mass; quad's error estimate is below 1e-10
    assert err < 1e-10
    assert 1 - 1e-9 - 1e-9 <= mass <= 1 + 1e-9


def test_support_box_leaves_out_at_most_tail():
    src = get_source("correlated-laplace")
    x = src.sample(N, seed=4, dtype=torch.float64).numpy()
    for tail in (0.3, 0.02):
        lo, hi = src.support_box(tail)
        out = float(np.mean(np.any((x < lo) | (x > hi), axis=1)))
        # a binomial proportion: at most 4 standard errors above the bound
        assert out <= tail + 4 * math.sqrt(tail * (1 - tail) / N)
    # the box is the bounding box of A [-t, t]^2: its corners' images reach it
    lo, hi = src.support_box(1e-6)
    t = hi[0]
    corners = np.array([[t, t], [t, -t], [-t, t], [-t, -t]]) @ src.mixing.T
    assert np.allclose(corners.max(0), hi) and np.allclose(corners.min(0), lo)


def test_rd_bracket_over_the_audit_range():
    src = get_source("correlated-laplace")
    check_rd_bracket(src, np.geomspace(0.015, 0.98 * src.variance().sum(), 30))
    assert src.rate_distortion(2.0) == RDBound(0.0, 0.0)
    # the bracket is useful where codecs are audited (D ~ 0.02-0.5, 1-6 bits): on the shipped table
    # it is 0.016 bit at most (D ~ 0.07, between two certificates), 0.010 bit in the median
    audit = np.geomspace(0.02, 0.5, 40)
    widths = [(b.upper - b.lower) / math.log(2) for b in map(src.rate_distortion, audit)]
    assert max(widths) < 0.02


def test_shipped_table_is_the_defaults_and_consistent():
    assert get_source("correlated-laplace").params() == {"rho": 0.8} == CorrelatedLaplaceSource().params()
    check_reads_the_shipped_table("correlated-laplace", (0.03, 0.2, 1.0))


def test_other_rho_builds_and_caches_its_own_table(tmp_path, monkeypatch):
    check_builds_and_caches_other_tables(
        monkeypatch, tmp_path, "correlated-laplace", cl_module, "build_correlated_laplace_curve", {"rho": 0.5}, 0.1
    )


def test_optimal_distortion_follows_the_table_slopes():
    src = get_source("correlated-laplace")
    curve = RDCurve.load(DATA / "correlated_laplace_default.json")
    for D, lam in zip(curve.D, curve.slope):
        assert math.isclose(src.optimal_distortion(1.0 / lam), D, rel_tol=1e-9)


@pytest.mark.parametrize("rho", [1.0, -1.0, 1.5, math.nan, math.inf])
def test_bad_rho(rho):
    with pytest.raises(ValueError, match=r"rho must lie in the open interval \(-1, 1\)"):
        get_source("correlated-laplace", rho=rho)


def test_bad_arguments():
    src = get_source("correlated-laplace")
    with pytest.raises(ValueError, match="D must"):
        src.rate_distortion(0.0)
    with pytest.raises(ValueError, match="tail"):
        src.support_box(0.0)
    with pytest.raises(ValueError, match="bad parameters"):
        get_source("correlated-laplace", scale=1.0)
