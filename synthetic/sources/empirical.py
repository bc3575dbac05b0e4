"""Finite data as a source (``data:digits``, ``data:patches``, ``data:PATH.npy``): R(D) bounded from its samples.

The rows are split once (fixed seed) into a training and a test half; studies train on the first
and measure on the second (:class:`contracts.SplitSource`). R(D) has no closed form here: its
bounds come from a run of ``python -m analysis.rd_bounds`` on the same data, cached under
``$IBFLOW_CACHE`` (default ``~/.cache/ibflow``) by the data's content hash and attached with
:meth:`EmpiricalSource.attach_bounds`. Between the run's distortions the bounds stay valid: the
upper one is the time-sharing envelope of its achievable points, the lower one the maximum of its
dual lines (:mod:`estimators.rd`).

Built in, offline (inside the scikit-learn and scikit-image wheels):
- ``digits``: scikit-learn's 8x8 handwritten digits, 1797 rows of 64 grey levels 0-16;
- ``patches``: the non-overlapping 8x8 patches of eleven scikit-image photos in grey (ITU-R BT.601
  luma), 64 values in [0, 1] per row.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from contracts.interface import RDBound
from synthetic.checks import check_positive, check_sample_count
from estimators.rd.curve import time_sharing_envelope
from synthetic.sources.base import torch_generator

__all__ = ["DATASETS", "PATCH_PHOTOS", "EmpiricalSource", "bounds_cache_path", "load_dataset"]

DATASETS = ("digits", "patches")
"""The data sets built in; anything else after ``data:`` is a path to a .npy file of shape (n, d)."""

PATCH_PHOTOS = ("camera", "moon", "coins", "astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel", "clock")
"""The scikit-image photos (all inside its wheel) whose 8x8 patches make ``patches``."""

PATCH = 8


def _digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return np.asarray(load_digits().data, dtype=np.float64)


def _patches() -> np.ndarray:
    from skimage import data

    rows = []
    for name in PATCH_PHOTOS:
        img = np.asarray(getattr(data, name)(), dtype=np.float64) / 255.0
        if img.ndim == 3:
            img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
        h, w = (img.shape[0] // PATCH) * PATCH, (img.shape[1] // PATCH) * PATCH
        tiles = img[:h, :w].reshape(h // PATCH, PATCH, w // PATCH, PATCH).swapaxes(1, 2).reshape(-1, PATCH * PATCH)
        rows.append(tiles)
    return np.concatenate(rows)


def load_dataset(spec: str) -> np.ndarray:
    """The rows (n, d), float64, of ``digits``, ``patches`` or a .npy file (a path).

    Example:
        >>> load_dataset("digits").shape
        (1797, 64)
    """
    if spec == "digits":
        return _digits()
    if spec == "patches":
        return _patches()
    path = Path(spec)
    if path.suffix != ".npy":
        raise ValueError(f"data must be one of {', '.join(DATASETS)} or a path to a .npy file, got {spec!r}")
    if not path.is_file():
        raise ValueError(f"data file {spec!r} does not exist")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise ValueError(f"data file {spec!r} is not a plain .npy array: {e}") from None
    if array.ndim != 2 or array.shape[0] < 4 or array.shape[1] < 1:
        raise ValueError(f"data file {spec!r} must hold an array of shape (n, d) with n >= 4, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"data file {spec!r} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"data file {spec!r} holds NaN or infinite values")
    return array


def bounds_cache_path(fingerprint: str) -> Path:
    """Where ``analysis.rd_bounds`` caches the bounds of the data with this fingerprint."""
    root = Path(os.environ.get("IBFLOW_CACHE", Path.home() / ".cache" / "ibflow"))
    return root / "rd_bounds" / f"{fingerprint}.json"


class EmpiricalSource:
    """The rows of a data set as a source; its R(D) comes from attached sample-based bounds.

    Arguments:
        data: (n, d) rows.
        label: what ``data:`` named (``digits``, ``patches`` or the path), for reports.
        test_fraction: the share of rows held out for measuring, in (0, 1).
        split_seed: the seed of the one shuffle that splits the rows.

    Example:
        >>> src = EmpiricalSource(np.arange(20.0).reshape(10, 2), "toy")
        >>> src.dim, len(src.rows("train")), len(src.rows("test"))
        (2, 5, 5)
        >>> src.rate_distortion(1.0)
        Traceback (most recent call last):
        ...
        RuntimeError: data:toy has no R(D) bounds yet: run python -m analysis.rd_bounds --data toy first
    """

    name = "data"

    def __init__(self, data: np.ndarray, label: str, test_fraction: float = 0.5, split_seed: int = 0):
        array = np.asarray(data, dtype=np.float64)
        if array.ndim != 2 or len(array) < 4:
            raise ValueError(f"data must have shape (n, d) with n >= 4, got {array.shape}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        self.label, self.dim = label, int(array.shape[1])
        self.test_fraction, self.split_seed = float(test_fraction), int(split_seed)
        order = np.random.default_rng(split_seed).permutation(len(array))
        n_test = max(2, int(round(test_fraction * len(array))))
        self._test = torch.from_numpy(array[order[:n_test]])
        self._train = torch.from_numpy(array[order[n_test:]])
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes())
        digest.update(json.dumps([list(array.shape), self.test_fraction, self.split_seed]).encode())
        self.fingerprint = digest.hexdigest()[:20]
        self._bounds: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        return {"test_fraction": self.test_fraction, "split_seed": self.split_seed}

    def rows(self, split: str) -> torch.Tensor:
        """All rows of one part, float64."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self._train if split == "train" else self._test

    def sample_split(self, n: int, seed: int | None = None, split: str = "train") -> torch.Tensor:
        n = check_sample_count(n)
        rows = self.rows(split)
        g = torch_generator(seed)
        if split == "train":
            idx = torch.randint(len(rows), (n,), generator=g)
        else:
            idx = torch.randperm(len(rows), generator=g)[: min(n, len(rows))]
        return rows[idx].to(torch.float32)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` training rows drawn with replacement (float32)."""
        return self.sample_split(n, seed, "train")

    def log_prob(self, x: Any) -> torch.Tensor:
        raise NotImplementedError(f"data:{self.label} is a finite sample: it has no density")

    def variance(self) -> np.ndarray:
        """Per-dimension variances of the training rows."""
        return self._train.var(0).numpy()

    def covariance(self) -> np.ndarray:
        return np.atleast_2d(np.cov(self._train.numpy(), rowvar=False))

    def attach_bounds(self, bounds: dict[str, Any]) -> None:
        """Use a run's bounds (nats): ``{"d_max", "points": [{"distortion", "rate"}], "lines": [{"lam",
        "intercept"}]}`` as ``analysis.rd_bounds`` caches them."""
        for key in ("d_max", "points", "lines"):
            if key not in bounds:
                raise ValueError(f"bounds need the field {key!r}")
        self._bounds = bounds

    def load_cached_bounds(self) -> bool:
        """Attach the cached bounds of this data if a run left them; True if it did."""
        path = bounds_cache_path(self.fingerprint)
        if not path.is_file():
            return False
        self.attach_bounds(json.loads(path.read_text())["bounds_nats"])
        return True

    @property
    def has_bounds(self) -> bool:
        return self._bounds is not None

    def require_bounds(self, flag: str = "--source") -> None:
        """Refuse (ValueError naming ``flag``) data whose bounds no run of analysis.rd_bounds has cached:
        a study checks this before any work."""
        if not (self.has_bounds or self.load_cached_bounds()):
            raise ValueError(
                f"{flag} data:{self.label}: no R(D) bounds are cached for this data yet; run "
                f"python -m analysis.rd_bounds --data {self.label} first (minutes), then this command again"
            )

    def rate_distortion(self, D: float) -> RDBound:
        """Bounds on R(D) (nats) from the attached run: the dual lines below, the envelope above."""
        D = check_positive(D, "D")
        if self._bounds is None and not self.load_cached_bounds():
            raise RuntimeError(
                f"data:{self.label} has no R(D) bounds yet: run python -m analysis.rd_bounds --data {self.label} first"
            )
        b = self._bounds
        assert b is not None
        lower = max([0.0] + [line["intercept"] - line["lam"] * D for line in b["lines"]])
        Ds = np.array([p["distortion"] for p in b["points"]] + [b["d_max"]])
        Rs = np.array([p["rate"] for p in b["points"]] + [0.0])
        upper, _ = time_sharing_envelope(Ds, Rs, D)
        if D >= b["d_max"]:
            upper = 0.0
        return RDBound(min(lower, upper) if math.isfinite(upper) else lower, upper)


def data_source(spec: str, test_fraction: float = 0.5, split_seed: int = 0) -> EmpiricalSource:
    """``EmpiricalSource`` of ``digits``, ``patches`` or a .npy path (what ``data:`` names)."""
    check_positive(test_fraction, "test_fraction")
    return EmpiricalSource(load_dataset(spec), spec, test_fraction=test_fraction, split_seed=split_seed)
