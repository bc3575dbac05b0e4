"""synthetic.samplers: known-MI samplers against their closed forms, Monte Carlo and the registry."""

import math

import numpy as np
import pytest

from contracts.interface import KnownMISampler
from synthetic import get_sampler
from synthetic.samplers import (
    CorrelatedGaussian,
    StudentTPair,
    TransformedPair,
    student_t_mi_correction,
)


def test_staircase_mi_matches_poole():
    for mi in (2.0, 4.0, 6.0, 8.0, 10.0):
        s = CorrelatedGaussian.from_mi(mi, dim=20)
        assert -10 * math.log(1 - s.rho**2) == pytest.approx(mi, rel=1e-12)
        assert s.mutual_information == pytest.approx(mi, rel=1e-12)
        assert isinstance(s, KnownMISampler)
    x, y = CorrelatedGaussian.from_mi(4.0).sample(50_000, seed=1)
    assert x.shape == y.shape == (50_000, 20)
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] == pytest.approx(CorrelatedGaussian.from_mi(4.0).rho, abs=0.01)


def test_transformed_keeps_the_gaussian_mi():
    g = CorrelatedGaussian.from_mi(6.0, dim=20)
    t = TransformedPair.from_mi(6.0, dim=20)
    assert t.mutual_information == g.mutual_information
    assert isinstance(t, KnownMISampler)
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
    s = get_sampler("student-t", mi=4.0, dim=20, df=5.0)
    assert s.mutual_information == pytest.approx(4.0, rel=1e-12)
    assert student_t_mi_correction(1e6, 20, 20) == pytest.approx(0.0, abs=1e-3)  # t -> Gaussian
    assert student_t_mi_correction(2.0, 20, 20) > student_t_mi_correction(10.0, 20, 20) > 0
    with pytest.raises(ValueError, match="mi must exceed"):
        StudentTPair.from_mi(0.1, df=1.0, dim=20)
