"""Barber-Agakov lower bound on I(X; Y) from a fitted conditional density q(x|y) and the entropy h(X)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from contracts.interface import Estimate
from contracts.stats import normal_interval

from .densities import GaussianConditional
from .knn import kl_entropy
from .registry import ConfiguredEstimator, option_values, register_estimator
from .training import TrainedOptions, check_int, check_real, paired_arrays, split_indices, train_critic

__all__ = ["BAOptions", "BarberAgakov", "barber_agakov"]


def barber_agakov(
    x: Any,
    y: Any,
    entropy_x: float | None = None,
    k: int = 3,
    hidden: int = 256,
    layers: int = 2,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 5e-4,
    split: tuple[float, float] = (0.2, 0.2),
    eval_every: int = 50,
    patience: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> Estimate:
    r"""Barber-Agakov bound I(X; Y) >= h(X) + E[log q(x|y)] (Barber & Agakov 2003; Poole et al. 2019).

    q(x|y) is Gaussian with a linear-plus-MLP mean and a full learned covariance
    (:class:`~estimators.densities.GaussianConditional`, started at least squares), fit by maximum likelihood
    on the training split; E[log q] is measured on the test split. ``entropy_x`` is h(X) in nats
    if known, and then the value is a true lower bound up to sampling noise. If ``None`` it is
    estimated by the Kozachenko-Leonenko kNN estimator (:func:`~estimators.knn.kl_entropy`) on all of x, and the
    result is no longer a certified bound (``extra["entropy_source"]`` says which). The interval
    covers only the noise of the E[log q] term. Data are not standardised (h(X) refers to x as given).
    """
    x, y = paired_arrays(x, y)
    if entropy_x is None:
        h, source = kl_entropy(x, k), f"kozachenko-leonenko (k={k})"
    else:
        if not math.isfinite(entropy_x):
            raise ValueError("entropy_x must be finite")
        h, source = float(entropy_x), "given"
    tr, va, te = split_indices(x.shape[0], split, seed)
    if len(tr) < batch_size:
        raise ValueError(f"x has too few rows ({x.shape[0]}) for batch_size={batch_size}")
    # centre y only (the bound does not depend on how y is parametrised); x must stay as given
    my, sy = y[tr].mean(0), np.where(y[tr].std(0) > 0, y[tr].std(0), 1.0)
    t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    xt, yt = t(x[tr]), t((y[tr] - my) / sy)
    xv, yv = t(x[va]), t((y[va] - my) / sy)
    xe, ye = t(x[te]), t((y[te] - my) / sy)
    torch.manual_seed(seed)
    q = GaussianConditional(x.shape[1], y.shape[1], hidden, layers)
    q.init_least_squares(xt, yt)
    gen = torch.Generator().manual_seed(seed)

    def loss_step(_: int) -> tuple[Tensor, float]:
        i = torch.randperm(xt.shape[0], generator=gen)[:batch_size]
        ll = q.log_prob(xt[i], yt[i]).mean()
        return -ll, h + float(ll.detach())

    def validate() -> float:
        return h + float(q.log_prob(xv, yv).mean())

    curve, val_curve, best_step = train_critic(q, loss_step, validate, steps, lr, eval_every, patience, progress, desc="mi[ba]")
    with torch.no_grad():
        ll = q.log_prob(xe, ye).double().numpy()
    value = h + float(ll.mean())
    se = float(ll.std(ddof=1) / math.sqrt(len(ll)))
    return Estimate(
        value=value,
        ci=normal_interval(value, se),
        method="ba",
        curve=curve,
        extra={
            "entropy_x": h,
            "entropy_source": source,
            "validation_curve": val_curve,
            "best_step": best_step,
            "interval": "normal, SE of the test log q(x|y) terms only",
        },
    )


@dataclass(frozen=True)
class BAOptions(TrainedOptions):
    """Options of :class:`BarberAgakov` (the keywords of :func:`barber_agakov`)."""

    entropy_x: float | None = field(default=None, metadata={"help": "h(X) in nats if known (then a certified bound); else kNN-estimated"})
    k: int = field(default=3, metadata={"help": "neighbours of the kNN estimates"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int("k", self.k, 1)
        if self.entropy_x is not None:
            check_real("entropy_x", self.entropy_x)


@register_estimator("ba", options=BAOptions, tags=("density", "trained"))
class BarberAgakov(ConfiguredEstimator):
    """Barber-Agakov bound h(X) + E[log q(x|y)] with a Gaussian q fitted by maximum likelihood (Barber & Agakov 2003)."""

    def estimate(self, x: Any, y: Any) -> Estimate:
        return barber_agakov(x, y, **option_values(self.options))
