"""The one training loop for every codec of the contract: beta schedules, seeded batches, divergence guard, checkpoints."""

from __future__ import annotations

import copy
import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from contracts import CodecLoss, Sampler, TrainableCodec
from ibflow.checkpoint import save_checkpoint
from ibflow.distortion import squared_error

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "beta_at",
    "Objective",
    "codec_objective",
    "forward_objective",
    "rate_per_sample",
    "train",
    "config_dict",
]

Schedule = Literal["constant", "linear", "cosine"]
Objective = Callable[[nn.Module, Tensor, float, "torch.Generator | None"], CodecLoss]
"""``(model, x, beta, generator) -> CodecLoss``: what :func:`train` minimises (its ``total``)."""


@dataclass
class TrainConfig:
    """Settings of :func:`train`. ``warmup`` is the fraction of steps over which beta rises from
    ``beta_start * beta`` to ``beta`` (weak to strong compression) for the linear and cosine schedules."""

    steps: int = 800
    batch_size: int = 2048
    lr: float = 2e-2
    schedule: Schedule = "linear"
    warmup: float = 0.3
    beta_start: float = 0.05
    seed: int = 0
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be finite and > 0, got {self.lr}")
        if self.schedule not in ("constant", "linear", "cosine"):
            raise ValueError(f"schedule must be 'constant', 'linear' or 'cosine', got {self.schedule!r}")
        if not 0 <= self.warmup <= 1:
            raise ValueError(f"warmup must lie in [0, 1], got {self.warmup}")
        if not 0 < self.beta_start <= 1:
            raise ValueError(f"beta_start must lie in (0, 1], got {self.beta_start}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")


@dataclass
class TrainResult:
    """History (per step: beta, total, distortion, rate in nats), wall time and steps done."""

    seconds: float
    steps: int
    history: dict[str, list[float]] = field(default_factory=dict)


class TrainingDiverged(RuntimeError):
    """Raised when the loss becomes NaN/inf or explodes; the codec is restored to its last good state."""


def beta_at(schedule: Schedule, beta: float, step: int, steps: int, warmup: float, beta_start: float) -> float:
    """beta at ``step``: constant, or rising from ``beta_start * beta`` to ``beta`` over the first
    ``warmup * steps`` steps, linearly or on a half cosine."""
    n_warm = int(round(warmup * steps))
    if schedule == "constant" or n_warm == 0 or step >= n_warm:
        return beta
    t = step / n_warm
    ramp = t if schedule == "linear" else 0.5 * (1 - math.cos(math.pi * t))
    return beta * (beta_start + (1 - beta_start) * ramp)


def _accepts_generator(model: nn.Module) -> bool:
    try:
        return "generator" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def rate_per_sample(out: Mapping[str, Any], n: int) -> Tensor | None:
    """A codec's own rate per sample in nats, from its ``forward`` output: ``out["rate"]`` (a
    noisy-latent codec), else -sum log of every tensor in ``out["likelihoods"]`` over all but the
    batch dimension (CompressAI's convention); ``None`` where the output carries neither.

    Example:
        >>> out = {"x_hat": torch.zeros(2, 3), "likelihoods": {"y": torch.full((2, 3), 0.5)}}
        >>> rate_per_sample(out, 2) / math.log(2)  # 3 symbols of 1 bit each
        tensor([3., 3.])
    """
    if "rate" in out:
        return out["rate"]
    likelihoods = out.get("likelihoods")
    if not likelihoods:
        return None
    return sum(-lik.log().reshape(n, -1).sum(1) for lik in likelihoods.values())  # type: ignore[return-value]


def forward_objective(model: nn.Module, x: Tensor, beta: float, generator: torch.Generator | None = None) -> CodecLoss:
    """The objective a codec's ``forward`` implies (CompressAI's convention): ``distortion + beta * rate``
    with batch means of

    - distortion: the codec's own ``out["distortion"]`` per sample if it reports one, else squared
      error summed over dimensions (DESIGN.md, units);
    - rate: ``out["rate"]`` (a noisy-latent codec's per-sample nats), else -sum log of every tensor in
      ``out["likelihoods"]`` per sample (nats), else 0 (a codec that spends no rate, e.g. analog JSCC).

    The generator goes to ``forward`` where it takes one, so its noise is seeded.
    """
    out: Mapping[str, Any] = model(x, generator=generator) if _accepts_generator(model) else model(x)
    per_sample = out.get("distortion")
    distortion = (squared_error(x, out["x_hat"]) if per_sample is None else per_sample).mean()
    per_sample_rate = rate_per_sample(out, len(x))
    if per_sample_rate is None:
        rate = torch.zeros((), dtype=distortion.dtype, device=distortion.device)
    else:
        rate = per_sample_rate.mean()
    return CodecLoss(distortion + beta * rate, distortion, rate)


def codec_objective(model: nn.Module, x: Tensor, beta: float, generator: torch.Generator | None = None) -> CodecLoss:
    """``model.loss(x, beta, generator)`` for a :class:`contracts.TrainableCodec`, else :func:`forward_objective`."""
    if isinstance(model, TrainableCodec):
        return model.loss(x, beta, generator)
    return forward_objective(model, x, beta, generator)


def train(
    model: nn.Module,
    sample: Sampler,
    beta: float,
    config: TrainConfig | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    divergence_factor: float = 1e4,
    *,
    objective: Objective = codec_objective,
    parameters: Iterable[nn.Parameter] | None = None,
    init: bool = True,
    lr_decay: bool = True,
) -> TrainResult:
    """Minimise ``objective(model, x, beta_t, generator).total`` (default ``distortion + beta_t * rate``,
    :func:`codec_objective`) with Adam, and a cosine learning-rate decay if ``lr_decay``.

    Fresh samples every step (``sample(n, seed)``, seeded from ``config.seed``), so the run is
    reproducible for a given seed and thread count. Before the first step, a model with a
    ``data_init(x, generator)`` method initialises from one batch (if ``init``). Every
    ``checkpoint_every`` steps the weights are kept in memory (and written to ``checkpoint`` if
    given, :func:`ibflow.save_checkpoint`, with ``meta.step`` the number of updates done). If the loss
    becomes non-finite or exceeds ``divergence_factor`` times the first loss, the model is restored to
    the last good weights, they are saved (``meta.step``: the step they come from, the last multiple of
    ``checkpoint_every`` or 0; ``meta.diverged_at``: the step that diverged), and
    :class:`TrainingDiverged` says at which step and where the checkpoint is.

    Arguments:
        model: any codec of the contract (:class:`contracts.Codec`, or a
            :class:`contracts.TrainableCodec`), trained in place.
        sample: a callable ``(n, seed) -> Tensor (n, ...)``, e.g. ``source.sample``.
        beta: the rate multiplier (> 0).
        config: see :class:`TrainConfig`.
        checkpoint: optional path of the checkpoint file.
        progress: show a progress bar.
        objective: ``(model, x, beta, generator) -> CodecLoss``; the history records its parts and
            every term of its ``extra``.
        parameters: what Adam trains (default: all of the model's parameters).
        init: run the model's ``data_init`` on the first batch.
        lr_decay: cosine decay of the learning rate to 1e-3 of ``config.lr`` (else constant).
    Returns:
        :class:`TrainResult`.
    """
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model.train()
    data_init = getattr(model, "data_init", None)
    if init and data_init is not None:
        data_init(sample(cfg.batch_size, cfg.seed * 1_000_003), generator=gen)
    params = list(model.parameters() if parameters is None else parameters)
    # foreach: one multi-tensor kernel per Adam stage instead of one per parameter (on a small codec the
    # per-parameter loop was an eighth of a step); the same update up to rounding
    opt = torch.optim.Adam(params, lr=cfg.lr, foreach=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=cfg.lr * 1e-3) if lr_decay else None
    history: dict[str, list[float]] = {"beta": [], "total": [], "distortion": [], "rate": []}
    good = copy.deepcopy(model.state_dict())
    good_step = 0  # the step whose weights ``good`` holds: those after ``good_step`` updates
    first_loss: float | None = None
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=f"train beta={beta:g}", disable=not progress, leave=False)
    for step in bar:
        b = beta_at(cfg.schedule, beta, step, cfg.steps, cfg.warmup, cfg.beta_start)
        x = sample(cfg.batch_size, cfg.seed * 1_000_003 + step + 1)
        parts = objective(model, x, b, gen)
        value = float(parts.total.detach())
        if first_loss is None:
            first_loss = abs(value) + 1e-12
        if not math.isfinite(value) or abs(value) > divergence_factor * max(first_loss, 1.0):
            model.load_state_dict(good)
            where = ""
            if checkpoint is not None:
                # meta.step names the weights saved (those of good_step), diverged_at the step that failed
                save_checkpoint(model, checkpoint, step=good_step, beta=beta, diverged_at=step)
                where = f"; last good weights saved to {checkpoint}"
            raise TrainingDiverged(
                f"training diverged at step {step} (loss {value:.4g}, beta {b:.4g}); model restored to the "
                f"weights of step {good_step}{where}. Try a smaller lr (now {cfg.lr:g})."
            )
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1e3, foreach=True)
        opt.step()
        if sched is not None:
            sched.step()
        for k, v in (("beta", b), ("total", value), ("distortion", float(parts.distortion.detach())), ("rate", float(parts.rate.detach()))):
            history[k].append(v)
        for k, t in parts.extra.items():
            history.setdefault(k, []).append(float(t.detach()))
        if (step + 1) % cfg.checkpoint_every == 0:
            good = copy.deepcopy(model.state_dict())
            good_step = step + 1
            if checkpoint is not None:
                save_checkpoint(model, checkpoint, step=step + 1, beta=beta)
        if progress and step % 50 == 0:
            bar.set_postfix(D=f"{history['distortion'][-1]:.4f}", R=f"{history['rate'][-1]:.4f}")
    model.eval()
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, step=cfg.steps, beta=beta)
    return TrainResult(time.perf_counter() - start, cfg.steps, history)


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The config as a plain dict (for JSON reports)."""
    return asdict(cfg)
