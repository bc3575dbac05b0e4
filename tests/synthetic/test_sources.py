"""Sources: sampling, densities, entropies and R(D) bounds against closed forms and each other."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthetic import get_source, symbolic
from synthetic.rd import gaussian_rd


@pytest.mark.parametrize(
    "name, params",
    [
        ("gaussian", {"variance": 2.0}),
        ("gaussian", {"variance": 0.5, "dim": 3}),
        ("gaussian-vector", {"variances": [4.0, 1.0, 0.25]}),
        ("gaussian-vector", {"covariance": [[2.0, 0.8], [0.8, 1.0]]}),
        ("laplace", {"scale": 0.7}),
        ("mixture", {}),
        (
            "mixture",
            {
                "weights": [0.3, 0.7],
                "means": [[0.0, 0.0], [2.0, 1.0]],
                "covariances": [[[1.0, 0.3], [0.3, 1.0]], [[0.5, 0.0], [0.0, 0.2]]],
            },
        ),
    ],
)
def test_sampling_moments_and_entropy(name, params):
    src = get_source(name, **params)
    n = 200_000
    x = src.sample(n, seed=0, dtype=torch.float64)
    assert x.shape == (n, src.dim)
    assert torch.equal(x, src.sample(n, seed=0, dtype=torch.float64))
    # sample covariance vs the closed form: the std error of an entry is <= sqrt(2/n) * scale
    cov = np.cov(x.numpy().T).reshape(src.dim, src.dim)
    scale = np.sqrt(np.outer(np.diag(src.covariance()), np.diag(src.covariance())))
    # Laplace has kurtosis 6 (var of x^2 is 5 var^2): tolerance 5 standard errors with that kurtosis
    assert np.all(np.abs(cov - src.covariance()) <= 5 * math.sqrt(6 / n) * scale)
    # -E log p(X) estimates h(X); its standard error is std(log p)/sqrt(n); allow 5 of them
    lp = src.log_prob(x)
    se = float(lp.std()) / math.sqrt(n)
    assert abs(-float(lp.mean()) - src.differential_entropy()) <= 5 * se + src.entropy_error


@given(st.floats(0.05, 20.0))
def test_laplace_entropy_and_slb_match_sympy(b):
    src = get_source("laplace", scale=b)
    h = sp.lambdify(symbolic.b, symbolic.laplace_entropy_expr())(b)
    assert math.isclose(src.differential_entropy(), h, rel_tol=1e-12)
    D = 0.1 * b**2
    slb = sp.lambdify((symbolic.b, symbolic.D), symbolic.laplace_slb_expr())(b, D)
    assert math.isclose(src.shannon_lower_bound(D), max(0.0, slb), rel_tol=1e-12)


def test_gaussian_log_prob_normalised():
    src = get_source("gaussian", variance=3.0)
    grid = torch.linspace(-30, 30, 200_001, dtype=torch.float64)[:, None]
    mass = torch.trapezoid(src.log_prob(grid).exp(), grid[:, 0])
    assert abs(float(mass) - 1) < 1e-10


def test_full_covariance_water_fills_eigenvalues():
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    src = get_source("gaussian-vector", covariance=cov)
    eig = np.linalg.eigvalsh(cov)
    for D in (0.1, 0.5, 1.5, 2.9, 3.5):
        assert src.rate_distortion(D).lower == pytest.approx(gaussian_rd(eig, D), rel=1e-12)


@given(st.floats(0.0, 5.0))
def test_distortion_rate_inverts(R):
    src = get_source("gaussian-vector", variances=[4.0, 1.0, 0.25, 0.0625])
    D = src.distortion_rate(R).lower
    assert src.rate_distortion(D).lower == pytest.approx(R, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("D", [0.05, 0.2, 0.6, 1.5])
def test_laplace_bounds_ordered(D):
    # SLB <= BA lower <= BA upper <= Gaussian upper bound, and the BA bracket is tight
    src = get_source("laplace", scale=1.0)
    b = src.rate_distortion(D)
    assert src.shannon_lower_bound(D) - 1e-12 <= b.lower <= b.upper <= src.gaussian_upper_bound(D) + 1e-12
    assert b.upper - b.lower < 5e-3


@pytest.mark.parametrize("D", [0.1, 0.5, 1.5])
def test_mixture_1d_bounds_ordered(D):
    src = get_source("mixture")
    b = src.rate_distortion(D)
    assert src.shannon_lower_bound(D) - 1e-12 <= b.lower <= b.upper <= src.gaussian_upper_bound(D) + 1e-12
    assert b.upper - b.lower < 5e-3


@pytest.mark.slow
def test_mixture_2d_bounds_ordered():
    src = get_source(
        "mixture",
        weights=[0.5, 0.5],
        means=[[-1.0, 0.0], [1.0, 0.5]],
        covariances=[[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.4]]],
    )
    # one certificate (building the whole 2-D curve takes minutes; see synthetic.make_tables)
    from synthetic.ba import certify_rd_continuous
    from synthetic.sources.mixture import MIXTURE_BOX_TAIL

    D = 0.1
    lo, hi = src.support_box(MIXTURE_BOX_TAIL)
    c = certify_rd_continuous(src.log_density_np, D, lo=lo, hi=hi)
    slb = src.shannon_lower_bound(D)
    # R(D) lies in [lower, upper]; the SLB is nearly tight at small D, so BA's lower bound may sit
    # below it, but never by more than BA's own certified width
    assert slb <= c.upper <= src.gaussian_upper_bound(D) + 1e-12
    assert c.lower >= slb - (c.upper - c.lower)
    assert c.upper - c.lower < 1e-3


def test_laplace_iid_vector_scales():
    one, three = get_source("laplace", scale=1.0), get_source("laplace", scale=1.0, dim=3)
    assert three.rate_distortion(0.6).lower == pytest.approx(3 * one.rate_distortion(0.2).lower, rel=1e-12)


@pytest.mark.parametrize(
    "name, params, arg",
    [
        ("gaussian", {"variance": 0.0}, "variance"),
        ("gaussian", {"variance": -1.0}, "variance"),
        ("gaussian", {"variance": 1.0, "dim": 0}, "dim"),
        ("gaussian-vector", {"variances": [1.0, -2.0]}, "variances"),
        ("gaussian-vector", {"covariance": [[1.0, 2.0], [2.0, 1.0]]}, "positive semidefinite"),
        ("gaussian-vector", {"covariance": [1.0, 2.0]}, "covariance"),
        ("gaussian-vector", {}, "exactly one"),
        ("laplace", {"scale": 0.0}, "scale"),
        ("mixture", {"weights": [0.5, 0.6], "means": [[0.0], [1.0]], "covariances": [1.0, 1.0]}, "weights"),
        ("mixture", {"weights": [0.5, 0.5], "means": [[0.0, 1.0]], "covariances": [1.0, 1.0]}, "means"),
        ("mixture", {"weights": [0.5, 0.5], "means": [[0.0], [1.0]], "covariances": [[1.0]]}, "covariances"),
        ("nope", {}, "name"),
        ("gaussian", {"variances": [1.0]}, "bad parameters"),
    ],
)
def test_bad_parameters(name, params, arg):
    with pytest.raises(ValueError, match=arg):
        get_source(name, **params)


@pytest.mark.parametrize("call", [lambda s: s.rate_distortion(0.0), lambda s: s.rate_distortion(-1.0)])
def test_bad_distortion(call):
    with pytest.raises(ValueError, match="D"):
        call(get_source("gaussian"))


def test_bad_sample_size():
    with pytest.raises(ValueError, match="n must"):
        get_source("gaussian").sample(0)
