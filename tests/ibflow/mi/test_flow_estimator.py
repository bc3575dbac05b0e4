"""ibflow.mi: the joint Gaussian latent against closed forms, and the flow MI estimator's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators import ESTIMATORS, estimate_mi
from estimators.closed_form import gaussian_mi_from_correlations
from estimators.intervals import student_t_interval
from estimators.densities import gaussian_mixture_log_density
from ibflow.mi import JointGaussian, MixtureLatent, flow_mutual_information
from ibflow.mi.flow_estimator import choose_latent
from ibflow.mi.mixture_latent import fit_gaussian_mixture


def _random_covariance(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(dim, dim, generator=g, dtype=torch.float64)
    return a @ a.T + 0.5 * torch.eye(dim, dtype=torch.float64)


@settings(deadline=None)
@given(dim_u=st.integers(1, 3), dim_v=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_joint_gaussian_pmi_is_the_log_density_ratio(dim_u: int, dim_v: int, seed: int) -> None:
    from scipy.stats import multivariate_normal

    cov = _random_covariance(dim_u + dim_v, seed)
    model = JointGaussian(dim_u, dim_v).double()
    rng = np.random.default_rng(seed)
    w = torch.as_tensor(rng.multivariate_normal(np.zeros(dim_u + dim_v), cov.numpy(), size=7))
    model.fit(torch.as_tensor(rng.multivariate_normal(np.zeros(dim_u + dim_v), cov.numpy(), size=50)), ridge=0.0)
    s = model.covariance().detach().numpy()
    u, v = w[:, :dim_u], w[:, dim_u:]
    expected = (multivariate_normal(np.zeros(dim_u + dim_v), s).logpdf(w.numpy())
                - multivariate_normal(np.zeros(dim_u), s[:dim_u, :dim_u]).logpdf(u.numpy())
                - multivariate_normal(np.zeros(dim_v), s[dim_u:, dim_u:]).logpdf(v.numpy()))
    np.testing.assert_allclose(model.pmi(u, v).detach().numpy(), np.atleast_1d(expected), rtol=1e-9, atol=1e-9)


def test_joint_gaussian_pmi_averages_to_its_closed_form() -> None:
    # E_model[pmi] = I of the model; 200,000 draws: the tolerance is 4 standard errors of the mean
    cov = _random_covariance(5, 3)
    model = JointGaussian(2, 3).double()
    model.fit(torch.as_tensor(np.random.default_rng(0).multivariate_normal(np.zeros(5), cov.numpy(), size=100)))
    s = model.covariance().detach().numpy()
    w = torch.as_tensor(np.random.default_rng(1).multivariate_normal(np.zeros(5), s, size=200_000))
    pmi = model.pmi(w[:, :2], w[:, 2:]).detach().numpy()
    assert abs(pmi.mean() - model.mutual_information()) < 4 * pmi.std() / math.sqrt(pmi.size)


def _pair(n: int, rho: float, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    return x, rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((n, dim))


@pytest.fixture(scope="module")
def gaussian_estimate():  # type: ignore[no-untyped-def]
    x, y = _pair(4000, 0.7, 2, 0)
    return x, y, flow_mutual_information(x, y, steps=150, progress=False)


def test_flow_on_gaussians_is_within_its_sampling_error(gaussian_estimate) -> None:  # type: ignore[no-untyped-def]
    # a correctly specified model: the ends are off by the fitting noise O(parameters / n) only, so the
    # truth lies within 2.6 standard errors (99 %) of the held-out mean's sampling half-width plus 0.02 nats
    *_, e = gaussian_estimate
    truth = gaussian_mi_from_correlations([0.7, 0.7])
    low, high = student_t_interval(0.0, e.extra["pmi"])
    assert abs(e.value - truth) <= 4 / 3 * (high - low) / 2 + 0.02
    assert e.ci[0] < truth < e.ci[1]


def test_flow_estimate_is_the_midpoint_and_the_interval_spans_both_ends(gaussian_estimate) -> None:  # type: ignore[no-untyped-def]
    *_, e = gaussian_estimate
    a, b = e.extra["in_sample"], e.extra["held_out"]
    assert e.value == pytest.approx(0.5 * (a + b), abs=1e-12)
    assert b == pytest.approx(float(np.mean(e.extra["pmi"])), abs=1e-9)
    assert len(e.extra["pmi"]) == e.extra["n_test"] == 800
    assert e.ci[0] < min(a, b) and max(a, b) < e.ci[1]
    assert e.method == "flow" and "sampling and fitting noise" in e.extra["interval"]
    gaussian_part = e.extra["latent"] in ("gaussian", "elliptical")
    assert (e.extra["canonical_correlations"] is not None) == gaussian_part == (e.extra["model_mi"] is not None)
    assert e.extra["latent"] == max(e.extra["latent_scores"], key=e.extra["latent_scores"].get)  # auto: the best start


def test_flow_in_sample_value_is_invariant_under_increasing_maps(gaussian_estimate) -> None:  # type: ignore[no-untyped-def]
    # normal scores of the training rows depend only on their ranks, so strictly increasing maps of the
    # coordinates leave the training inputs of the flows, and so the in-sample mean, unchanged
    x, y, e = gaussian_estimate
    other = flow_mutual_information(np.sinh(2 * x) + x, np.exp(y), steps=150, progress=False)
    assert other.extra["in_sample"] == pytest.approx(e.extra["in_sample"], abs=1e-5)


def test_flow_is_registered_through_its_entry_point() -> None:
    assert "flow" in ESTIMATORS.names()
    assert ESTIMATORS.get("flow").options.__name__ == "FlowMIOptions"
    x, y = _pair(1500, 0.5, 1, 1)
    e = estimate_mi(x, y, method="flow", steps=50, progress=False)
    assert e.method == "flow" and math.isfinite(e.value)


@pytest.mark.parametrize(("options", "name"), [({"layers": 0}, "layers"), ({"spline_bins": 1}, "spline_bins"),
                                                ({"coupling": "glow"}, "coupling"), ({"level": 1.5}, "level"),
                                                ({"latent": "mixture-3"}, "latent")])
def test_flow_refuses_bad_options_by_name(options: dict, name: str) -> None:
    x, y = _pair(1500, 0.5, 1, 1)
    with pytest.raises(ValueError, match=name):
        estimate_mi(x, y, method="flow", **options)


def test_flow_refuses_too_few_rows() -> None:
    x, y = _pair(300, 0.5, 1, 1)
    with pytest.raises(ValueError, match="too few rows"):
        flow_mutual_information(x, y, progress=False)


@settings(deadline=None)
@given(dim_u=st.integers(1, 3), dim_v=st.integers(1, 3), components=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_mixture_latent_pmi_is_the_log_density_ratio(dim_u: int, dim_v: int, components: int, seed: int) -> None:
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(seed)
    d = dim_u + dim_v
    model = MixtureLatent(dim_u, dim_v, components).double()
    with torch.no_grad():  # random weights, means and factors, away from the EM start
        model.logits.copy_(torch.as_tensor(rng.normal(size=components)))
        model.means.copy_(torch.as_tensor(rng.normal(size=(components, d))))
        model.raw.copy_(torch.as_tensor(0.3 * rng.normal(size=(components, d, d))))
    w = rng.normal(size=(6, d))
    weights = torch.softmax(model.logits, 0).detach().numpy()
    means = model.means.detach().numpy()
    covs = [c @ c.T for c in model.cholesky().detach().numpy()]

    def mix(a: np.ndarray, sl: slice) -> np.ndarray:
        return np.log(sum(p * multivariate_normal(m[sl], c[sl, sl]).pdf(a) for p, m, c in zip(weights, means, covs)))

    expected = mix(w, slice(0, d)) - mix(w[:, :dim_u], slice(0, dim_u)) - mix(w[:, dim_u:], slice(dim_u, d))
    got = model.pmi(torch.as_tensor(w[:, :dim_u]), torch.as_tensor(w[:, dim_u:])).detach().numpy()
    np.testing.assert_allclose(got, np.atleast_1d(expected), rtol=1e-9, atol=1e-9)
    lp = model.log_prob(torch.as_tensor(w[:, :dim_u]), torch.as_tensor(w[:, dim_u:])).detach().numpy()
    np.testing.assert_allclose(lp, np.atleast_1d(mix(w, slice(0, d))), rtol=1e-9, atol=1e-9)


def test_em_start_raises_the_likelihood_over_one_gaussian() -> None:
    # two well separated clusters: the 2-component EM fit beats the single Gaussian on held-out rows by
    # far more than sampling noise (4 standard errors of the mean difference, fixed seed)
    rng = np.random.default_rng(5)
    w = np.concatenate([rng.normal(-2.5, 0.5, (600, 2)), rng.normal(2.5, 0.5, (600, 2))])
    train, test = w[::2], w[1::2]
    one = gaussian_mixture_log_density(test, *fit_gaussian_mixture(train, 1))
    two = gaussian_mixture_log_density(test, *fit_gaussian_mixture(train, 2))
    diff = two - one
    assert diff.mean() > 4 * diff.std() / math.sqrt(diff.size)


def test_auto_latent_is_the_best_held_out_start() -> None:
    rng = np.random.default_rng(0)
    train = torch.as_tensor(rng.normal(size=(800, 3)))
    val = torch.as_tensor(rng.normal(size=(200, 3)))
    latent, scores = choose_latent(train, val, 1)
    assert set(scores) == {"elliptical", "mixture-2", "mixture-4", "mixture-8"}
    best = max(scores, key=scores.get)
    assert (isinstance(latent, MixtureLatent) and best == f"mixture-{latent.components}") or (
        isinstance(latent, JointGaussian) and best == "elliptical")
    only, one_score = choose_latent(train, val, 1, "gaussian")
    assert list(one_score) == ["gaussian"] and isinstance(only, JointGaussian) and not only.elliptical
