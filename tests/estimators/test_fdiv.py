"""f-divergence variational bounds: Fenchel-Young, activations, optimal critics, a short trained run."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from estimators.closed_form import gaussian_chi2, gaussian_hellinger2, gaussian_kl, gaussian_tv
from estimators.fdiv import DIVERGENCES, estimate_fdiv, fdiv_bound_terms, fdiv_lower_bound, get_divergence

NAMES = sorted(DIVERGENCES)


@pytest.mark.parametrize("name", NAMES)
@given(v=st.floats(-30, 30))
def test_activation_maps_into_domain(name, v):
    div = DIVERGENCES[name]
    t = div.activation(torch.tensor([v], dtype=torch.float64))
    assert bool(div.in_domain(t)) and bool(torch.isfinite(div.conjugate(t)))


@pytest.mark.parametrize("name", NAMES)
@given(log_r=st.floats(-4, 4), v=st.floats(-6, 6))
def test_fenchel_young(name, log_r, v):
    # f(u) + f*(t) >= u t for t in dom f*, with equality at t = T*(u) = f'(u)
    div = DIVERGENCES[name]
    u = torch.tensor([math.exp(log_r)], dtype=torch.float64)
    t = div.activation(torch.tensor([v], dtype=torch.float64))
    assert float(div.f(u) + div.conjugate(t) - u * t) >= -1e-9
    if name != "tv" or abs(log_r) > 1e-12:  # TV's f' is a set at u = 1
        ts = div.optimal_critic(torch.tensor([log_r], dtype=torch.float64))
        assert float(div.f(u) + div.conjugate(ts) - u * ts) == pytest.approx(0.0, abs=1e-9)


P, Q = (0.0, 1.0), (0.7, 1.2)


def _exact(name):
    args = ([P[0]], [[P[1] ** 2]], [Q[0]], [[Q[1] ** 2]])
    if name == "kl":
        return gaussian_kl(*args)
    if name == "reverse_kl":
        return gaussian_kl(args[2], args[3], args[0], args[1])
    if name == "chi2":
        return gaussian_chi2(*args)
    if name == "hellinger2":
        return gaussian_hellinger2(*args)
    if name == "tv":
        return gaussian_tv(*args)
    # JS has no closed form: quadrature of q f(p/q)
    p, q = stats.norm(*P), stats.norm(*Q)
    f = lambda t: float(DIVERGENCES["js"].f(torch.tensor(math.exp(p.logpdf(t) - q.logpdf(t)), dtype=torch.float64)))  # noqa: E731
    return integrate.quad(lambda t: q.pdf(t) * f(t), -30, 30, limit=200)[0]


@pytest.mark.parametrize("name", NAMES)
def test_optimal_critic_attains_divergence(name):
    n = 200_000
    rng = np.random.default_rng(0)
    xp, xq = rng.normal(*P, n), rng.normal(*Q, n)
    log_r = lambda x: stats.norm(*P).logpdf(x) - stats.norm(*Q).logpdf(x)  # noqa: E731
    div = get_divergence(name)
    a, b = fdiv_bound_terms(div.optimal_critic(torch.as_tensor(log_r(xp))), div.optimal_critic(torch.as_tensor(log_r(xq))), div)
    se = math.sqrt(float(a.var()) / n + float(b.var()) / n)
    assert abs(float(a.mean() - b.mean()) - _exact(name)) < 5 * se  # 5 Monte-Carlo standard errors


def test_suboptimal_critic_is_below():
    rng = np.random.default_rng(1)
    xp, xq = torch.as_tensor(rng.normal(*P, 100_000)), torch.as_tensor(rng.normal(*Q, 100_000))
    t = lambda x: 1 + 0.5 * x  # noqa: E731  (any critic; optimal is 1 + log r)
    assert float(fdiv_lower_bound(t(xp), t(xq), "kl")) < _exact("kl")


def test_domain_and_name_checks():
    with pytest.raises(ValueError, match="t_q"):
        fdiv_lower_bound(torch.zeros(3), torch.ones(3), "reverse_kl")
    with pytest.raises(ValueError, match="divergence"):
        get_divergence("wasserstein")
    with pytest.raises(ValueError, match="q_samples"):
        estimate_fdiv(np.zeros((20, 2)), np.zeros((20, 3)), progress=False)


@pytest.mark.parametrize("name", ["kl", "hellinger2", "tv"])
def test_trained_bound_near_truth(name):
    # few hundred steps, small critic; the test-split value is a lower bound up to its sampling
    # noise, so it must lie below truth + 4 SE, and training must get within 4 SE + 0.15 of truth
    rng = np.random.default_rng(2)
    p, q = rng.normal(*P, (2000, 1)), rng.normal(*Q, (2000, 1))
    est = estimate_fdiv(p, q, name, steps=300, hidden=32, seed=0, progress=False)
    se = est.extra["se"]
    truth = _exact(name)
    assert est.value < truth + 4 * se
    assert est.value > truth - 4 * se - 0.15
    assert est.ci[0] < est.value < est.ci[1]
