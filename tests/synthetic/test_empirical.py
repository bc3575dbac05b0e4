"""synthetic.sources.empirical: finite data as a source, its split, its errors and its attached R(D) bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import contracts
from synthetic import get_source
from synthetic.sources.empirical import EmpiricalSource, load_dataset


def test_builtin_datasets_load_offline() -> None:
    digits = load_dataset("digits")
    assert digits.shape == (1797, 64) and digits.min() == 0 and digits.max() == 16
    patches = load_dataset("patches")
    assert patches.shape[1] == 64 and len(patches) > 30_000
    assert 0.0 <= patches.min() and patches.max() <= 1.0


@settings(max_examples=20, deadline=None)
@given(n=st.integers(4, 200), d=st.integers(1, 5), frac=st.floats(0.1, 0.9), seed=st.integers(0, 100))
def test_split_is_disjoint_and_complete(n: int, d: int, frac: float, seed: int) -> None:
    data = np.arange(n * d, dtype=np.float64).reshape(n, d)  # distinct rows
    src = EmpiricalSource(data, "toy", test_fraction=frac, split_seed=seed)
    train = {tuple(r) for r in src.rows("train").tolist()}
    test = {tuple(r) for r in src.rows("test").tolist()}
    assert not train & test and len(train) + len(test) == n
    # test draws are without replacement and capped at the test rows; train draws come from train rows
    drawn = src.sample_split(10 * n, seed=1, split="test")
    assert len(drawn) == len(test) and len({tuple(r) for r in drawn.tolist()}) == len(test)
    assert {tuple(r) for r in src.sample(50, seed=2).double().tolist()} <= train


def test_data_source_keeps_the_contract_and_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IBFLOW_CACHE", str(tmp_path / "cache"))  # no cached bounds, whatever runs left in ~/.cache
    src = get_source("data:digits")
    assert isinstance(src, contracts.SplitSource) and src.dim == 64
    with pytest.raises(RuntimeError, match="run python -m analysis.rd_bounds --data digits"):
        src.rate_distortion(100.0)
    with pytest.raises(ValueError, match="does not exist"):
        get_source(f"data:{tmp_path / 'missing.npy'}")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones(5))
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        get_source(f"data:{bad}")
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((6, 2), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        get_source(f"data:{nan}")
    with pytest.raises(ValueError, match="digits, patches or a path"):
        get_source("data:mnist")
    with pytest.raises(ValueError, match="takes no option"):
        get_source("data:digits", rho=0.5)


def test_attached_bounds_are_ordered_and_monotone() -> None:
    src = EmpiricalSource(np.random.default_rng(0).normal(size=(64, 2)), "toy")
    src.attach_bounds({
        "d_max": 2.0,
        "points": [{"distortion": 0.5, "rate": 0.8}, {"distortion": 1.0, "rate": 0.4}],
        "lines": [{"lam": 0.8, "intercept": 1.0}, {"lam": 0.3, "intercept": 0.55}],
    })
    Ds = np.linspace(0.5, 2.5, 41)
    b = [src.rate_distortion(float(D)) for D in Ds]
    lo, up = np.array([x.lower for x in b]), np.array([x.upper for x in b])
    assert np.all(lo <= up + 1e-12) and np.all(np.diff(lo) <= 1e-12) and np.all(np.diff(up) <= 1e-12)
    assert up[-1] == 0.0 and lo[-1] == 0.0
    assert torch.is_tensor(src.sample(3, seed=0))
