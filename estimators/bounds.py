"""Mutual-information lower bounds computed from a critic score matrix scores[i, j] = T(x_i, y_j)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "dv_bound",
    "nwj_bound",
    "infonce_bound",
    "smile_bound",
    "js_critic_objective",
    "mine_surrogate",
    "js_nwj_bound",
    "interpolated_bound",
    "BOUNDS",
]

# Conventions: the diagonal holds the K joint pairs (x_i, y_i); the K(K-1) off-diagonal entries
# stand in for samples of the product of marginals (Poole et al. 2019).


def _check(scores: Tensor) -> Tensor:
    scores = torch.as_tensor(scores)
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise ValueError(f"scores must be a square (K, K) matrix with K >= 2, got {tuple(scores.shape)}")
    return scores


def _off_diagonal(scores: Tensor) -> Tensor:
    k = scores.shape[0]
    return scores[~torch.eye(k, dtype=torch.bool, device=scores.device)]


def _log_mean_exp(v: Tensor) -> Tensor:
    return torch.logsumexp(v, dim=0) - math.log(v.numel())


def dv_bound(scores: Tensor) -> Tensor:
    r"""Donsker-Varadhan: E_P[T] - log E_Q[e^T] (Donsker & Varadhan 1983; Belghazi et al. 2018, MINE; Poole et al. 2019)."""
    scores = _check(scores)
    return scores.diagonal().mean() - _log_mean_exp(_off_diagonal(scores))


def mine_surrogate(scores: Tensor, log_ema: Tensor) -> Tensor:
    r"""MINE training surrogate whose gradient is grad E_P[T] - grad E_Q[e^T] / EMA (Belghazi et al. 2018, eq. 12).

    ``log_ema`` is the log of a moving average of E_Q[e^T] (no gradient flows through it). Its
    value is not a bound; with ``log_ema`` equal to this batch's log E_Q[e^T] the gradient is
    exactly that of :func:`dv_bound`, and averaging over batches removes the minibatch bias of
    grad log E_Q[e^T].
    """
    scores = _check(scores)
    return scores.diagonal().mean() - torch.exp(_log_mean_exp(_off_diagonal(scores)) - log_ema.detach())


def nwj_bound(scores: Tensor) -> Tensor:
    r"""NWJ / f-GAN KL: E_P[T] - e^-1 E_Q[e^T] (Nguyen et al. 2010; Poole et al. 2019, "I_NWJ").

    Never above :func:`dv_bound` for the same critic, since log z <= z / e.
    """
    scores = _check(scores)
    return scores.diagonal().mean() - torch.exp(_off_diagonal(scores) - 1.0).mean()


def infonce_bound(scores: Tensor) -> Tensor:
    r"""InfoNCE: mean_i [T(x_i, y_i) - log 1/K sum_j e^{T(x_i, y_j)}] (van den Oord et al. 2018; Poole et al. 2019).

    Each row is normalised over the K candidates y_j, so the value is at most log K for any critic
    and is unchanged by adding any function a(x_i) to row i.
    """
    scores = _check(scores)
    k = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(k)


def smile_bound(scores: Tensor, tau: float = 5.0) -> Tensor:
    r"""SMILE: E_P[T] - log E_Q[e^{clip(T, -tau, tau)}] (Song & Ermon 2020); tau = inf gives DV."""
    scores = _check(scores)
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    off = _off_diagonal(scores)
    if math.isfinite(tau):
        off = off.clamp(-tau, tau)
    return scores.diagonal().mean() - _log_mean_exp(off)


def js_critic_objective(scores: Tensor) -> Tensor:
    r"""f-GAN Jensen-Shannon objective for a raw critic V: E_P[-softplus(-V)] - E_Q[softplus(V)].

    Equals E_P[T] - E_Q[f*(T)] - 2 log 2 with T = log 2 - softplus(-V), the f-GAN JS bound
    (Nowozin et al. 2016); the optimum is V = log p/q.
    """
    scores = _check(scores)
    return -F.softplus(-scores.diagonal()).mean() - F.softplus(_off_diagonal(scores)).mean()


def js_nwj_bound(scores: Tensor) -> Tensor:
    r"""MI read out from a JS-trained critic V through NWJ with T = 1 + V (Poole et al. 2019, I_JS)."""
    return nwj_bound(_check(scores) + 1.0)


def interpolated_bound(scores: Tensor, log_baseline: Tensor, alpha: float) -> Tensor:
    r"""Interpolated bound I_alpha between NWJ-with-baseline and InfoNCE (Poole et al. 2019, I_alpha).

    I_alpha = 1 + E_P[log(e^T / D)] - E_Q[e^T / D], with D(y) = alpha m(y) + (1 - alpha) e^{a(y)},
    m(y) = mean_k e^{T(x_k, y)} over the minibatch and a = ``log_baseline`` (one value per y_j).
    For the product term (x_i, y_j), i != j, m leaves out x_j so that y_j is independent of the
    x's it averages over (the leave-one-out mean of Poole et al.'s reference code). alpha = 0 gives
    NWJ with critic T - a(y) + 1 (TUBA); larger alpha trades variance for bias.
    """
    scores = _check(scores)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    k = scores.shape[0]
    log_baseline = torch.as_tensor(log_baseline, dtype=scores.dtype)
    if log_baseline.shape != (k,):
        raise ValueError(f"log_baseline must have shape ({k},), got {tuple(log_baseline.shape)}")
    eye = torch.eye(k, dtype=torch.bool, device=scores.device)

    def log_mix(log_m: Tensor) -> Tensor:
        if alpha == 0.0:
            return log_baseline + 0.0 * log_m
        if alpha == 1.0:
            return log_m
        return torch.logaddexp(math.log(alpha) + log_m, math.log1p(-alpha) + log_baseline)

    # column j holds T(x_k, y_j) for all k: m(y_j) is a column mean
    log_m_joint = torch.logsumexp(scores, dim=0) - math.log(k)
    log_m_loo = torch.logsumexp(scores.masked_fill(eye, -math.inf), dim=0) - math.log(k - 1)
    joint = (scores.diagonal() - log_mix(log_m_joint)).mean()
    marginal = torch.exp(scores - log_mix(log_m_loo)[None, :])[~eye].mean()
    return 1.0 + joint - marginal


BOUNDS = {
    "dv": dv_bound,
    "nwj": nwj_bound,
    "infonce": infonce_bound,
    "smile": smile_bound,
    "js": js_nwj_bound,
}
