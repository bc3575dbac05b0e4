"""Score-matrix MI bounds: orderings and invariances on hypothesis-chosen critics, and the optimal critic."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from estimators.bounds import (
    dv_bound,
    infonce_bound,
    interpolated_bound,
    js_critic_objective,
    js_nwj_bound,
    mine_surrogate,
    nwj_bound,
    smile_bound,
)
from estimators.closed_form import gaussian_mi_from_correlations
from estimators.fdiv import fdiv_bound_terms

finite = st.floats(-15, 15, allow_nan=False, allow_infinity=False)
score_matrices = st.integers(2, 8).flatmap(lambda k: arrays(np.float64, (k, k), elements=finite))


@given(score_matrices)
def test_dv_at_least_nwj(s):
    s = torch.as_tensor(s)
    assert float(dv_bound(s)) >= float(nwj_bound(s)) - 1e-9  # log z <= z / e


@given(score_matrices)
def test_infonce_at_most_log_k(s):
    s = torch.as_tensor(s)
    assert float(infonce_bound(s)) <= math.log(s.shape[0]) + 1e-9


@given(score_matrices)
def test_smile_with_infinite_clip_is_dv(s):
    s = torch.as_tensor(s)
    assert float(smile_bound(s, math.inf)) == pytest.approx(float(dv_bound(s)), abs=1e-12)


@given(score_matrices, st.floats(0.1, 20))
def test_smile_clip_only_in_partition_term(s, tau):
    s = torch.as_tensor(s)
    assert float(smile_bound(s, tau)) == pytest.approx(float(dv_bound(s)), abs=1e-9) or float(s.abs().max()) > tau


@given(score_matrices, finite)
def test_dv_invariant_to_constant(s, c):
    s = torch.as_tensor(s)
    assert float(dv_bound(s + c)) == pytest.approx(float(dv_bound(s)), abs=1e-9)


@given(score_matrices, st.data())
def test_infonce_invariant_to_function_of_x(s, data):
    # scores[i, j] = T(x_i, y_j); each row is a softmax over the candidates y_j, so adding a(x_i)
    # to row i leaves InfoNCE unchanged. (Adding b(y_j) to column j does NOT leave it unchanged.)
    s = torch.as_tensor(s)
    a = torch.as_tensor(data.draw(arrays(np.float64, (s.shape[0],), elements=finite)))
    assert float(infonce_bound(s + a[:, None])) == pytest.approx(float(infonce_bound(s)), abs=1e-9)


def test_infonce_not_invariant_to_function_of_y():
    s = torch.zeros(3, 3, dtype=torch.float64)
    b = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    assert abs(float(infonce_bound(s + b[None, :])) - float(infonce_bound(s))) > 1e-3


def test_js_readout_is_nwj_of_shifted_critic():
    s = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(js_nwj_bound(s)) == pytest.approx(float(nwj_bound(s + 1)))


def test_bad_scores_shape():
    with pytest.raises(ValueError, match="scores"):
        dv_bound(torch.zeros(3, 2))


def _pmi(x, y, rho):
    # log p(x, y) / (p(x) p(y)) for a standard bivariate Gaussian pair with correlation rho
    return -0.5 * math.log(1 - rho**2) - (rho**2 * (x**2 + y**2) - 2 * rho * x * y) / (2 * (1 - rho**2))


def test_optimal_critic_nwj_mean_and_variance():
    # NWJ = f-GAN KL bound on P_XY vs P_X P_Y with T = 1 + pmi gives I exactly in expectation;
    # with n joint and n independent product samples its variance is (Var_P[pmi] + chi^2)/n,
    # chi^2 = exp(2I) - 1 (REFERENCES.md, MI facts).
    rho, n, reps = 0.5, 400, 400
    mi = gaussian_mi_from_correlations([rho])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((reps, n))
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((reps, n))
    xq, yq = rng.standard_normal((reps, n)), rng.standard_normal((reps, n))
    t_p = torch.as_tensor(1 + _pmi(x, y, rho))
    t_q = torch.as_tensor(1 + _pmi(xq, yq, rho))
    a, b = fdiv_bound_terms(t_p, t_q, "kl")
    est = (a.mean(1) - b.mean(1)).numpy()
    var_p_pmi = float(np.var(_pmi(x, y, rho)))
    predicted = (var_p_pmi + math.expm1(2 * mi)) / n
    # mean: 5 standard errors of the mean over the replicates
    assert abs(est.mean() - mi) < 5 * math.sqrt(predicted / reps)
    # variance: the sample variance of 400 replicates has relative SE ~ sqrt(2/399) ~ 7% for
    # Gaussian-like replicates (more with the lognormal tail); allow 25%
    assert est.var(ddof=1) == pytest.approx(predicted, rel=0.25)
    assert math.expm1(2 * mi) / n <= predicted


def test_optimal_critic_score_matrix_bounds():
    # on a K x K score matrix of the true pmi, NWJ and DV are close to I (off-diagonal as product samples)
    rho, k, reps = 0.6, 256, 40
    mi = gaussian_mi_from_correlations([rho])
    rng = np.random.default_rng(1)
    vals = {"nwj": [], "dv": [], "infonce": []}
    for _ in range(reps):
        x = rng.standard_normal(k)
        y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(k)
        s = torch.as_tensor(_pmi(x[:, None], y[None, :], rho))
        vals["nwj"].append(float(nwj_bound(s + 1)))
        vals["dv"].append(float(dv_bound(s)))
        vals["infonce"].append(float(infonce_bound(s)))
    for name in ("nwj", "dv"):
        v = np.array(vals[name])
        assert abs(v.mean() - mi) < 5 * v.std(ddof=1) / math.sqrt(reps) + 1e-3  # 5 SE of the replicate mean
    assert np.mean(vals["infonce"]) <= mi + 0.01  # InfoNCE is biased down (Poole et al. 2019)


def test_mine_surrogate_gradient():
    # with the EMA equal to this batch's E_Q[e^T] the surrogate's gradient is the DV gradient;
    # with a different EMA the marginal part of the gradient is rescaled by E_Q[e^T] / EMA
    s = torch.randn(6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    off = s[~torch.eye(6, dtype=torch.bool)]
    lme = (torch.logsumexp(off, 0) - math.log(off.numel())).detach()
    (g_dv,) = torch.autograd.grad(dv_bound(s), s)
    (g_mine,) = torch.autograd.grad(mine_surrogate(s, lme), s)
    assert torch.allclose(g_dv, g_mine)
    (g_half,) = torch.autograd.grad(mine_surrogate(s, lme + math.log(2.0)), s)
    eye = torch.eye(6, dtype=torch.bool)
    assert torch.allclose(g_half[~eye], g_dv[~eye] / 2) and torch.allclose(g_half[eye], g_dv[eye])


@given(score_matrices, st.data())
def test_interpolated_alpha_zero_is_nwj_with_baseline(s, data):
    s = torch.as_tensor(s)
    a = torch.as_tensor(data.draw(arrays(np.float64, (s.shape[0],), elements=st.floats(-5, 5))))
    expected = nwj_bound(s - a[None, :] + 1.0)
    assert float(interpolated_bound(s, a, 0.0)) == pytest.approx(float(expected), rel=1e-9, abs=1e-9)


def test_interpolated_optimal_critic_near_truth():
    # with T = pmi and baseline a = 0 (the optimal one for T = log p(y|x)/p(y)), I_alpha ~ I
    rho, k, reps = 0.6, 128, 40
    mi = gaussian_mi_from_correlations([rho])
    rng = np.random.default_rng(2)
    vals = []
    for _ in range(reps):
        x = rng.standard_normal(k)
        y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal(k)
        s = torch.as_tensor(_pmi(x[:, None], y[None, :], rho))
        vals.append(float(interpolated_bound(s, torch.zeros(k, dtype=torch.float64), 0.01)))
    v = np.array(vals)
    assert abs(v.mean() - mi) < 5 * v.std(ddof=1) / math.sqrt(reps) + 0.01  # 5 SE + 0.01 for the alpha-mix bias


@given(score_matrices)
def test_js_objective_is_fgan_js_bound(s):
    # js_critic_objective + 2 log 2 equals the f-GAN JS bound with T = activation(V) on diagonal vs off-diagonal
    from estimators.fdiv import fdiv_lower_bound, get_divergence

    s = torch.as_tensor(s)
    js = get_divergence("js")
    eye = torch.eye(s.shape[0], dtype=torch.bool)
    expected = fdiv_lower_bound(js.activation(s.diagonal()), js.activation(s[~eye]), js)
    assert float(js_critic_objective(s)) + 2 * math.log(2) == pytest.approx(float(expected), abs=1e-9)
