"""Variational lower bounds on f-divergences, D_f(P||Q) >= E_P[T] - E_Q[f*(T)] (Nguyen et al. 2010)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from contracts.interface import Estimate
from contracts.stats import normal_interval

from .critics import mlp
from .training import as_float_array, split_indices, train_critic

__all__ = ["FDivergence", "DIVERGENCES", "get_divergence", "fdiv_lower_bound", "fdiv_bound_terms", "estimate_fdiv"]

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class FDivergence:
    """One row of the f-divergence table (REFERENCES.md; Nowozin et al. 2016, f-GAN).

    Attributes:
        name: key in :data:`DIVERGENCES`.
        f: the generator f(u), u = p/q > 0, with f(1) = 0.
        conjugate: the Fenchel conjugate f*(t) on its domain.
        activation: maps a raw critic output v in R into the domain of f* (f-GAN output activation g_f).
        optimal_critic: T* = f'(r) as a function of the log density ratio log r = log p/q.
        in_domain: whether t lies in the domain of f*.
    """

    name: str
    f: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    optimal_critic: Callable[[Tensor], Tensor]
    in_domain: Callable[[Tensor], Tensor]


DIVERGENCES: dict[str, FDivergence] = {
    "kl": FDivergence(
        "kl",
        f=lambda u: u * torch.log(u),
        conjugate=lambda t: torch.exp(t - 1.0),
        activation=lambda v: v,
        optimal_critic=lambda lr: 1.0 + lr,
        in_domain=lambda t: torch.isfinite(t),
    ),
    "reverse_kl": FDivergence(
        "reverse_kl",
        f=lambda u: -torch.log(u),
        conjugate=lambda t: -1.0 - torch.log(-t),
        activation=lambda v: -torch.exp(v),
        optimal_critic=lambda lr: -torch.exp(-lr),
        in_domain=lambda t: t < 0,
    ),
    "chi2": FDivergence(
        "chi2",
        f=lambda u: (u - 1.0) ** 2,
        conjugate=lambda t: t**2 / 4.0 + t,
        activation=lambda v: v,
        optimal_critic=lambda lr: 2.0 * torch.expm1(lr),
        in_domain=lambda t: torch.isfinite(t),
    ),
    "hellinger2": FDivergence(
        "hellinger2",
        f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        conjugate=lambda t: t / (1.0 - t),
        activation=lambda v: -torch.expm1(v),
        optimal_critic=lambda lr: -torch.expm1(-lr / 2.0),
        in_domain=lambda t: t < 1,
    ),
    "js": FDivergence(
        "js",
        f=lambda u: u * torch.log(u) - (u + 1.0) * torch.log((u + 1.0) / 2.0),
        conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
        activation=lambda v: LOG2 - F.softplus(-v),
        optimal_critic=lambda lr: LOG2 - F.softplus(-lr),
        in_domain=lambda t: t < LOG2,
    ),
    "tv": FDivergence(
        "tv",
        f=lambda u: 0.5 * torch.abs(u - 1.0),
        conjugate=lambda t: t,
        activation=lambda v: 0.5 * torch.tanh(v),
        optimal_critic=lambda lr: 0.5 * torch.sign(lr),
        in_domain=lambda t: torch.abs(t) <= 0.5,
    ),
}


def get_divergence(divergence: str | FDivergence) -> FDivergence:
    """Look up a divergence by name (``kl``, ``reverse_kl``, ``chi2``, ``hellinger2``, ``js``, ``tv``)."""
    if isinstance(divergence, FDivergence):
        return divergence
    try:
        return DIVERGENCES[divergence]
    except KeyError:
        raise ValueError(f"divergence must be one of {sorted(DIVERGENCES)}, got {divergence!r}") from None


def fdiv_bound_terms(t_p: Tensor, t_q: Tensor, divergence: str | FDivergence) -> tuple[Tensor, Tensor]:
    """Per-sample terms (T on P samples, f*(T) on Q samples); their mean difference is the bound."""
    div = get_divergence(divergence)
    t_p, t_q = torch.as_tensor(t_p), torch.as_tensor(t_q)
    if not bool(torch.all(div.in_domain(t_q))):
        raise ValueError(f"t_q has values outside the domain of f* for {div.name}")
    return t_p, div.conjugate(t_q)


def fdiv_lower_bound(t_p: Tensor, t_q: Tensor, divergence: str | FDivergence) -> Tensor:
    r"""E_P[T] - E_Q[f*(T)] <= D_f(P||Q) (Nguyen, Wainwright & Jordan 2010; Nowozin et al. 2016).

    Arguments:
        t_p: critic values T(x) on samples of P, already in the domain of f*.
        t_q: critic values T(x) on samples of Q.
        divergence: a name in :data:`DIVERGENCES`.

    Example:
        >>> lr = torch.zeros(5)  # P = Q: the optimal critic gives D = 0
        >>> float(fdiv_lower_bound(1 + lr, 1 + lr, "kl"))
        0.0
    """
    a, b = fdiv_bound_terms(t_p, t_q, divergence)
    return a.mean() - b.mean()


def estimate_fdiv(
    p_samples: Any,
    q_samples: Any,
    divergence: str = "kl",
    steps: int = 2000,
    seed: int = 0,
    batch_size: int = 256,
    lr: float = 1e-3,
    hidden: int = 256,
    layers: int = 2,
    split: tuple[float, float] = (0.2, 0.2),
    eval_every: int = 50,
    patience: int = 10,
    progress: bool = True,
) -> Estimate:
    r"""Train an MLP critic T = activation(V(x)) to maximise the f-GAN bound; report it on a test split.

    P and Q samples are each split into train / validation / test (``split`` = validation and
    test fractions). Early stopping keeps the critic with the best validation bound; the value
    reported is the bound on the untouched test split, so the selection does not bias it upward.
    The interval is the normal one, value -+ z_0.975 SE (:func:`contracts.stats.normal_interval`),
    with SE^2 = var(T on P)/n_P + var(f*(T) on Q)/n_Q.

    Returns:
        An :class:`Estimate` (nats; for ``js`` this is the f-GAN JS, equal to 2 JSD).
    """
    div = get_divergence(divergence)
    p = as_float_array(p_samples, "p_samples")
    q = as_float_array(q_samples, "q_samples")
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"q_samples must have {p.shape[1]} columns, got {q.shape[1]}")
    if p.shape[0] < 10 or q.shape[0] < 10:
        raise ValueError("p_samples and q_samples need at least 10 rows each")
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    tr_p, va_p, te_p = (torch.as_tensor(p[i], dtype=torch.float32) for i in split_indices(len(p), split, seed))
    tr_q, va_q, te_q = (torch.as_tensor(q[i], dtype=torch.float32) for i in split_indices(len(q), split, seed + 1))
    torch.manual_seed(seed)
    net = mlp(p.shape[1], 1, hidden, layers)
    gen = torch.Generator().manual_seed(seed)

    def critic(x: Tensor) -> Tensor:
        return div.activation(net(x).squeeze(-1))

    def loss_step(_: int) -> tuple[Tensor, float]:
        ip = torch.randint(len(tr_p), (min(batch_size, len(tr_p)),), generator=gen)
        iq = torch.randint(len(tr_q), (min(batch_size, len(tr_q)),), generator=gen)
        bound = fdiv_lower_bound(critic(tr_p[ip]), critic(tr_q[iq]), div)
        return -bound, float(bound.detach())

    def validate() -> float:
        return float(fdiv_lower_bound(critic(va_p), critic(va_q), div))

    curve, val_curve, best_step = train_critic(
        net, loss_step, validate, steps, lr, eval_every, patience, progress, desc=f"fdiv[{div.name}]"
    )
    with torch.no_grad():
        a, b = fdiv_bound_terms(critic(te_p).double(), critic(te_q).double(), div)
    value = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var()) / len(a) + float(b.var()) / len(b))
    return Estimate(
        value=value,
        ci=normal_interval(value, se),
        method=f"fdiv-{div.name}",
        curve=curve,
        extra={
            "validation_curve": val_curve,
            "best_step": best_step,
            "n_test": (len(te_p), len(te_q)),
            "interval": "normal, SE from per-sample test terms",
            "se": se,
        },
    )
