"""Training a FlowCodec on a source: beta schedules, seeded loop, divergence guard, checkpoints."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal

import torch
from tqdm.auto import tqdm

from ibflow.codec import FlowCodec

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "beta_at",
    "train",
    "save_checkpoint",
    "load_checkpoint",
]

Schedule = Literal["constant", "linear", "cosine"]
Sampler = Callable[[int, int], torch.Tensor]  # (n, seed) -> samples (n, dim)


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


def save_checkpoint(codec: FlowCodec, path: str | Path, **meta: float | int | str) -> None:
    """Save the codec's config and weights; loads with ``torch.load(path, weights_only=True)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"config": dict(codec.config), "state_dict": codec.state_dict(), "meta": dict(meta)}, tmp)
    tmp.replace(path)  # atomic: a crash mid-write never leaves a broken checkpoint behind


def load_checkpoint(path: str | Path) -> FlowCodec:
    """Rebuild a :class:`FlowCodec` saved by :func:`save_checkpoint`."""
    blob = torch.load(Path(path), weights_only=True, map_location="cpu")
    codec = FlowCodec(**blob["config"])
    codec.load_state_dict(blob["state_dict"])
    return codec


def train(
    codec: FlowCodec,
    sample: Sampler,
    beta: float,
    config: TrainConfig | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    divergence_factor: float = 1e4,
) -> TrainResult:
    """Minimise ``distortion + beta_t * KL`` with Adam and a cosine learning-rate decay.

    Fresh samples every step (``sample(n, seed)``, seeded from ``config.seed``), so the run is
    reproducible for a given seed and thread count. Every ``checkpoint_every`` steps the weights are
    kept in memory (and written to ``checkpoint`` if given). If the loss becomes non-finite or exceeds
    ``divergence_factor`` times the first loss, the codec is restored to the last good weights, they are
    saved, and :class:`TrainingDiverged` says at which step and where the checkpoint is.

    Arguments:
        codec: the model, trained in place.
        sample: a callable ``(n, seed) -> Tensor (n, dim)``, e.g. ``source.sample``.
        beta: the rate multiplier (> 0).
        config: see :class:`TrainConfig`.
        checkpoint: optional path of the checkpoint file.
        progress: show a progress bar.
    Returns:
        :class:`TrainResult`.
    """
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be finite and > 0, got {beta}")
    cfg = config or TrainConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    codec.train()
    codec.data_init(sample(cfg.batch_size, cfg.seed * 1_000_003), generator=gen)
    opt = torch.optim.Adam(codec.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=cfg.lr * 1e-3)
    history: dict[str, list[float]] = {"beta": [], "total": [], "distortion": [], "rate": []}
    good = copy.deepcopy(codec.state_dict())
    first_loss: float | None = None
    start = time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=f"train beta={beta:g}", disable=not progress, leave=False)
    for step in bar:
        b = beta_at(cfg.schedule, beta, step, cfg.steps, cfg.warmup, cfg.beta_start)
        x = sample(cfg.batch_size, cfg.seed * 1_000_003 + step + 1)
        parts = codec.loss(x, b, generator=gen)
        value = float(parts.total.detach())
        if first_loss is None:
            first_loss = abs(value) + 1e-12
        if not math.isfinite(value) or abs(value) > divergence_factor * max(first_loss, 1.0):
            codec.load_state_dict(good)
            where = ""
            if checkpoint is not None:
                save_checkpoint(codec, checkpoint, step=step, beta=beta)
                where = f"; last good weights saved to {checkpoint}"
            raise TrainingDiverged(
                f"training diverged at step {step} (loss {value:.4g}, beta {b:.4g}); codec restored to the "
                f"weights of step {step - step % cfg.checkpoint_every}{where}. Try a smaller lr (now {cfg.lr:g})."
            )
        opt.zero_grad(set_to_none=True)
        parts.total.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1e3)
        opt.step()
        sched.step()
        for k, v in (("beta", b), ("total", value), ("distortion", float(parts.distortion.detach())), ("rate", float(parts.rate.detach()))):
            history[k].append(v)
        if (step + 1) % cfg.checkpoint_every == 0:
            good = copy.deepcopy(codec.state_dict())
            if checkpoint is not None:
                save_checkpoint(codec, checkpoint, step=step + 1, beta=beta)
        if progress and step % 50 == 0:
            bar.set_postfix(D=f"{history['distortion'][-1]:.4f}", KL=f"{history['rate'][-1]:.4f}")
    codec.eval()
    if checkpoint is not None:
        save_checkpoint(codec, checkpoint, step=cfg.steps, beta=beta)
    return TrainResult(time.perf_counter() - start, cfg.steps, history)


def config_dict(cfg: TrainConfig) -> dict:
    """The config as a plain dict (for JSON reports)."""
    return asdict(cfg)
