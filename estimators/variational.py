"""Critic-based variational lower bounds on I(X; Y), trained and read out on held-out data (Poole et al. 2019).

One trainer (:func:`neural_mi`) serves six bounds; each is registered as its own estimator with
exactly the options it reads: DV/MINE, NWJ, InfoNCE, JS, SMILE and the interpolated I_alpha.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from contracts.interface import Estimate

from .bounds import (
    BOUNDS,
    interpolated_bound,
    js_critic_objective,
    mine_surrogate,
    smile_bound,
)
from .critics import make_critic, mlp
from .intervals import student_t_interval
from .registry import ConfiguredEstimator, option_values, register_estimator
from .training import TrainedOptions, check_int, check_real, paired_arrays, split_indices, train_critic

__all__ = [
    "CRITIC_BOUNDS",
    "CriticOptions",
    "DVOptions",
    "SMILEOptions",
    "InterpolatedOptions",
    "DV",
    "NWJ",
    "InfoNCE",
    "JS",
    "SMILE",
    "Interpolated",
    "neural_mi",
    "warn_infonce_cap",
]

CRITIC_BOUNDS = ("dv", "nwj", "infonce", "js", "smile", "interpolated")
"""The bounds :func:`neural_mi` trains a critic on."""


class _BaselineShift(nn.Module):
    """Scores T(x_i, y_j) - a(y_j) with a learned MLP baseline a.

    I_alpha(T, a) = I_alpha(T - a, 0) (both numerator and mixture scale by e^{-a(y)}), so a
    learned baseline is a learned shift of the critic evaluated with a zero baseline.
    """

    def __init__(self, critic: nn.Module, dim_y: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.critic = critic
        self.baseline = mlp(dim_y, 1, hidden, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.critic(x, y) - self.baseline(y).squeeze(-1)[None, :]


def warn_infonce_cap(value: float, batch_size: int, margin: float = 0.1) -> bool:
    """Warn (and return True) when an InfoNCE value is within ``margin`` nats of its cap log K.

    InfoNCE <= log K for any critic (REFERENCES.md, MI facts), so near the cap it says only
    that I(X; Y) is at least about log K.
    """
    cap = math.log(batch_size)
    if value > cap - margin:
        warnings.warn(
            f"InfoNCE estimate {value:.3f} is within {margin} nats of its cap log K = {cap:.3f}; "
            "the true MI may be much larger (use a larger batch_size or another method)",
            stacklevel=3,
        )
        return True
    return False


def _tensors(x: np.ndarray, y: np.ndarray, split: tuple[float, float], seed: int) -> dict[str, tuple[Tensor, Tensor]]:
    tr, va, te = split_indices(x.shape[0], split, seed)
    # standardise with training statistics only, so the held-out splits stay untouched
    mx, sx = x[tr].mean(0), np.where(x[tr].std(0) > 0, x[tr].std(0), 1.0)
    my, sy = y[tr].mean(0), np.where(y[tr].std(0) > 0, y[tr].std(0), 1.0)
    out = {}
    for name, i in (("train", tr), ("val", va), ("test", te)):
        out[name] = (
            torch.as_tensor((x[i] - mx) / sx, dtype=torch.float32),
            torch.as_tensor((y[i] - my) / sy, dtype=torch.float32),
        )
    return out


def _batched_bound(critic: nn.Module, xs: Tensor, ys: Tensor, batch: int, readout: Any) -> np.ndarray:
    # disjoint held-out minibatches of the training batch size: InfoNCE's cap log K depends on K
    nb = xs.shape[0] // batch
    with torch.no_grad():
        return np.array(
            [float(readout(critic(xs[b * batch : (b + 1) * batch], ys[b * batch : (b + 1) * batch]).double())) for b in range(nb)]
        )


def neural_mi(
    x: Any,
    y: Any,
    method: str = "nwj",
    critic: str = "separable",
    hidden: int = 256,
    layers: int = 2,
    embed: int = 32,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    tau: float = 5.0,
    alpha: float = 0.01,
    ema_rate: float = 0.01,
    split: tuple[float, float] = (0.2, 0.2),
    eval_every: int = 50,
    patience: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> Estimate:
    r"""Train a critic on a variational lower bound and report the bound on a held-out test split.

    Methods (scores on a minibatch of K pairs; see :mod:`estimators.bounds`):
      - ``dv``: MINE (Belghazi et al. 2018). The gradient of log E_Q[e^T] is replaced by
        grad E_Q[e^T] / EMA(E_Q[e^T]) (eq. 12), the moving average at rate ``ema_rate``.
      - ``nwj``: Nguyen-Wainwright-Jordan / f-GAN KL.
      - ``infonce``: van den Oord et al. 2018; capped at log K (warns within 0.1 nats of it).
      - ``js``: critic trained on the f-GAN JS objective, MI read out as NWJ with T = 1 + critic
        (Poole et al. 2019).
      - ``smile``: Song & Ermon 2020: critic trained on the JS objective, read out as DV with the
        partition term's critic clipped to [-tau, tau] (tau = inf gives DV).
      - ``interpolated``: Poole et al. 2019 I_alpha (``alpha``, default 0.01) with a learned MLP
        baseline a(y).

    Data are split into train / validation / test (``split`` = validation and test fractions).
    Early stopping keeps the critic with the best validation bound; the value is the mean bound
    over disjoint test minibatches of ``batch_size`` pairs, the interval a t interval across them.
    Seeded: the same inputs and seed give the same estimate.
    """
    if method not in CRITIC_BOUNDS:
        raise ValueError(f"method must be one of {CRITIC_BOUNDS}, got {method!r}")
    x, y = paired_arrays(x, y)
    data = _tensors(x, y, split, seed)
    n_test = data["test"][0].shape[0]
    if data["train"][0].shape[0] < batch_size or n_test < 2 * batch_size or data["val"][0].shape[0] < batch_size:
        raise ValueError(
            f"x has too few rows ({x.shape[0]}) for batch_size={batch_size}: validation needs one and test two full batches"
        )
    torch.manual_seed(seed)
    net = make_critic(critic, x.shape[1], y.shape[1], hidden, layers, embed)
    if method == "interpolated":
        net = _BaselineShift(net, y.shape[1], hidden, layers)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = data["train"]

    if method == "smile":
        readout = lambda s: smile_bound(s, tau)  # noqa: E731
    elif method == "interpolated":
        readout = lambda s: interpolated_bound(s, torch.zeros(s.shape[1], dtype=s.dtype), alpha)  # noqa: E731
    else:
        readout = BOUNDS[method]
    state = {"log_ema": None}

    def loss_step(_: int) -> tuple[Tensor, float]:
        i = torch.randperm(xt.shape[0], generator=gen)[:batch_size]
        s = net(xt[i], yt[i])
        value = readout(s)
        if method in ("js", "smile"):
            # SMILE trains the critic on the JS objective and only reads out the clipped DV
            # (Song & Ermon 2020, sec. 4 and their reference code): maximising the clipped DV itself
            # is unbounded, since only the partition term is clipped.
            loss = -js_critic_objective(s)
        elif method == "dv":
            off = s[~torch.eye(s.shape[0], dtype=torch.bool)]
            m = (torch.logsumexp(off, 0) - math.log(off.numel())).detach()
            le = state["log_ema"]
            # the moving average is kept in log space so that large critics do not overflow
            le = m if le is None else torch.logaddexp(le + math.log1p(-ema_rate), m + math.log(ema_rate))
            state["log_ema"] = le
            loss = -mine_surrogate(s, le)
        else:
            loss = -value
        return loss, float(value.detach())

    def validate() -> float:
        return float(_batched_bound(net, *data["val"], batch_size, readout).mean())

    curve, val_curve, best_step = train_critic(
        net, loss_step, validate, steps, lr, eval_every, patience, progress, desc=f"mi[{method}]"
    )
    vals = _batched_bound(net, *data["test"], batch_size, readout)
    value = float(vals.mean())
    extra: dict[str, Any] = {
        "critic": critic,
        "batch_size": batch_size,
        "validation_curve": val_curve,
        "best_step": best_step,
        "steps_run": len(curve),
        "interval": f"t interval across {len(vals)} disjoint test minibatches of {batch_size}: sampling noise "
        "only, not the estimator's bias (the gap of a bound, or of an estimate that is none)",
    }
    if method == "infonce":
        cap = math.log(batch_size)
        extra["cap"] = cap
        extra["near_cap"] = warn_infonce_cap(value, batch_size)
    if method == "smile":
        extra["tau"] = tau
    if method == "interpolated":
        extra["alpha"] = alpha
    return Estimate(value=value, ci=student_t_interval(value, vals), method=method, curve=curve, extra=extra)


@dataclass(frozen=True)
class CriticOptions(TrainedOptions):
    """Options every critic bound takes (the keywords of :func:`neural_mi` they share)."""

    critic: Literal["separable", "concat"] = field(default="separable", metadata={"help": "critic T(x, y): g(x)^T h(y) or an MLP on [x, y]"})
    embed: int = field(default=32, metadata={"help": "embedding size of the separable critic"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("embed", self.embed, 1)


@dataclass(frozen=True)
class DVOptions(CriticOptions):
    """Options of :class:`DV`: the critic options and MINE's moving-average rate."""

    ema_rate: float = field(default=0.01, metadata={"help": "MINE: rate of the moving average of E_Q[e^T]"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("ema_rate", self.ema_rate, low=0.0, high=1.0, closed=(False, False))  # log1p(-rate) and log(rate)


@dataclass(frozen=True)
class SMILEOptions(CriticOptions):
    """Options of :class:`SMILE`: the critic options and the clip."""

    tau: float = field(default=5.0, metadata={"help": "SMILE: clip of the partition term's critic (inf gives DV)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("tau", self.tau, low=0.0, allow_inf=True)


@dataclass(frozen=True)
class InterpolatedOptions(CriticOptions):
    """Options of :class:`Interpolated`: the critic options and the interpolation weight."""

    alpha: float = field(default=0.01, metadata={"help": "I_alpha: weight of the InfoNCE-like minibatch mean"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_real("alpha", self.alpha, low=0.0, high=1.0, closed=(True, True))  # between NWJ (0) and InfoNCE (1)


class _CriticBound(ConfiguredEstimator):
    """A critic bound: its options go to :func:`neural_mi` with the registered method name."""

    def estimate(self, x: Any, y: Any) -> Estimate:
        return neural_mi(x, y, method=self.method, **option_values(self.options))


@register_estimator("dv", options=DVOptions, tags=("critic", "trained"))
class DV(_CriticBound):
    """Donsker-Varadhan bound trained as MINE with a moving-average gradient (Belghazi et al. 2018, eq. 12)."""


@register_estimator("nwj", options=CriticOptions, tags=("critic", "trained"))
class NWJ(_CriticBound):
    """Nguyen-Wainwright-Jordan (f-GAN KL) lower bound (Nguyen et al. 2010; Poole et al. 2019)."""


@register_estimator("infonce", options=CriticOptions, tags=("critic", "trained"))
class InfoNCE(_CriticBound):
    """InfoNCE lower bound, capped at log K (van den Oord et al. 2018; Poole et al. 2019)."""


@register_estimator("js", options=CriticOptions, tags=("critic", "trained"))
class JS(_CriticBound):
    """Critic trained on the f-GAN JS objective, read out through NWJ (Poole et al. 2019, I_JS)."""


@register_estimator("smile", options=SMILEOptions, tags=("critic", "trained"))
class SMILE(_CriticBound):
    """SMILE: JS-trained critic read out as DV with a clipped partition term (Song & Ermon 2020)."""


@register_estimator("interpolated", options=InterpolatedOptions, tags=("critic", "trained"))
class Interpolated(_CriticBound):
    """Interpolated bound I_alpha between NWJ and InfoNCE with a learned baseline (Poole et al. 2019)."""
