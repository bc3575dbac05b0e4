"""Shared training loop for variational bounds: Adam, held-out early stopping, progress bar."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

__all__ = [
    "TrainedOptions", "check_int", "check_real", "check_split", "check_seed", "as_float_array", "paired_arrays", "split_indices", "train_critic"]


@dataclass(frozen=True)
class TrainedOptions:
    """The options every trained estimator takes (networks, :func:`train_critic`'s loop, seed):
    the base of the critic bounds', Barber-Agakov's and the difference of entropies' options."""

    hidden: int = field(default=256, metadata={"help": "width of the hidden layers"})
    layers: int = field(default=2, metadata={"help": "hidden layers of each MLP"})
    steps: int = field(default=2000, metadata={"help": "maximum training steps"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size K"})
    lr: float = field(default=5e-4, metadata={"help": "Adam learning rate"})
    split: tuple[float, float] = field(default=(0.2, 0.2), metadata={"help": "validation and test fractions"})
    eval_every: int = field(default=50, metadata={"help": "steps between validations"})
    patience: int = field(default=10, metadata={"help": "validations without improvement before stopping"})
    seed: int = field(default=0, metadata={"help": "seed"})
    progress: bool = field(default=True, metadata={"help": "progress bar"})

    def __post_init__(self) -> None:
        # refused here, so that estimate_mi and the command line both reject an untrainable setting
        # (steps=0 would return the value of an untrained critic as if it were an estimate)
        check_int("hidden", self.hidden, 1)
        check_int("layers", self.layers, 0)
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 2, "a minibatch bound needs two pairs")
        check_real("lr", self.lr, low=0.0)
        check_split("split", self.split)
        check_int("eval_every", self.eval_every, 1)
        check_int("patience", self.patience, 1)
        check_seed("seed", self.seed)


def check_int(name: str, value: Any, low: int, why: str = "") -> None:
    """ValueError naming option ``name`` unless ``value`` is an integer (not a bool) >= ``low``.

    Example:
        >>> check_int("steps", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: steps must be an integer >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}{f' ({why})' if why else ''}, got {value!r}")


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None,
               closed: tuple[bool, bool] = (False, False), allow_inf: bool = False) -> None:
    """ValueError naming option ``name`` unless ``value`` is a real number in the interval from
    ``low`` to ``high`` (``closed`` says which ends belong to it), finite unless ``allow_inf``.

    Example:
        >>> check_real("lr", -1.0, low=0.0)
        Traceback (most recent call last):
        ...
        ValueError: lr must be a finite number > 0.0, got -1.0
    """
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    v = float(value) if ok else float("nan")
    ok = ok and not np.isnan(v) and (allow_inf or np.isfinite(v))
    ok = ok and (low is None or (v >= low if closed[0] else v > low))
    ok = ok and (high is None or (v <= high if closed[1] else v < high))
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>=' if closed[0] else '>'} {low}")
        if high is not None:
            parts.append(f"{'<=' if closed[1] else '<'} {high}")
        kind = "a number" if allow_inf else "a finite number"
        raise ValueError(f"{name} must be {kind}{' ' + ' and '.join(parts) if parts else ''}, got {value!r}")


def check_split(name: str, fractions: Any) -> None:
    """ValueError unless ``fractions`` is (validation, test), each in (0, 1), summing to < 1 (the
    rest trains)."""
    try:
        pair = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(0 < f < 1 for f in pair) or not sum(pair) < 1:
        raise ValueError(f"{name} must be two fractions (validation, test), each in (0, 1), summing to < 1 "
                         f"(the rest trains), got {fractions!r}")


def check_seed(name: str, value: Any) -> None:
    """ValueError unless ``value`` is an integer in [0, 2**32 - 1] (numpy's and torch's seeds)."""
    check_int(name, value, 0)
    if value >= 2**32:
        raise ValueError(f"{name} must be an integer in [0, {2**32 - 1}], got {value!r}")


def as_float_array(a: Any, name: str) -> np.ndarray:
    """(n, d) float64 array from an array or tensor; ValueError naming ``name`` on bad input."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n, d), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def paired_arrays(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) as float64 (n, d) arrays with the same number of rows; ValueError otherwise."""
    x = as_float_array(x, "x")
    y = as_float_array(y, "y")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have the same number of rows as x ({x.shape[0]}), got {y.shape[0]}")
    return x, y


def split_indices(n: int, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded disjoint (train, validation, test) index sets; ``fractions`` = (validation, test)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(int(round(fractions[0] * n)), 1)
    n_test = max(int(round(fractions[1] * n)), 1)
    return perm[n_val + n_test :], perm[:n_val], perm[n_val : n_val + n_test]


def train_critic(
    critic: nn.Module,
    loss_step: Callable[[int], tuple[Tensor, float]],
    validate: Callable[[], float],
    steps: int,
    lr: float = 5e-4,
    eval_every: int = 50,
    patience: int = 10,
    progress: bool = True,
    desc: str = "critic",
) -> tuple[list[float], list[float], int]:
    """Maximise a bound with Adam; keep the parameters with the best validation value.

    Arguments:
        critic: the module to train; on return it holds the best-validation parameters.
        loss_step: ``step -> (loss to minimise, training bound value)``.
        validate: evaluates the bound on the validation split (no gradients).
        steps: maximum number of Adam steps.
        patience: stop after this many validations without improvement.

    Returns:
        (training curve, validation curve, step of the kept parameters).
    """
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    curve: list[float] = []
    val_curve: list[float] = []
    best, best_state, best_step, stale = -float("inf"), copy.deepcopy(critic.state_dict()), 0, 0
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress, leave=False)
    for step in bar:
        critic.train()
        loss, value = loss_step(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        curve.append(value)
        if step % eval_every == 0 or step == steps:
            critic.eval()
            with torch.no_grad():
                v = validate()
            val_curve.append(v)
            bar.set_postfix(val=f"{v:.3f}")
            if np.isfinite(v) and v > best:
                best, best_state, best_step, stale = v, copy.deepcopy(critic.state_dict()), step, 0
            else:
                stale += 1
                if stale >= patience:
                    break
    bar.close()
    critic.load_state_dict(best_state)
    critic.eval()
    return curve, val_curve, best_step
