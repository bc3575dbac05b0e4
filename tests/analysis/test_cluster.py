"""Sweeps on Dask distributed: a small rd_gap sweep on a LocalCluster of worker processes gives the same
JSON as the local run (every task is seeded and independent; only the wall times differ), a failed task
on the cluster raises its own error, and a bad or silent --scheduler is refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis import rd_gap
from analysis.parallel import check_scheduler, run_tasks
from tests.analysis.test_parallel import fail_on

distributed = pytest.importorskip("distributed")

SWEEP = ["--source", "gaussian", "--betas", "0.3", "1.0", "--steps", "30", "--batch-size", "256",
         "--eval-samples", "8192", "--no-progress"]


def _without_times(value: Any) -> Any:
    """The report with every wall-time field dropped (they are the one thing a cluster may change)."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if not (k.endswith("_seconds") or k == "runtime_s")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def test_a_sweep_on_a_local_cluster_gives_the_local_runs_json(cluster, tmp_path: Path) -> None:
    assert rd_gap.main(SWEEP + ["--jobs", "1", "--json", str(tmp_path / "local.json")]) == 0
    assert rd_gap.main(SWEEP + ["--scheduler", cluster.scheduler_address, "--json", str(tmp_path / "cluster.json")]) == 0
    local = json.loads((tmp_path / "local.json").read_text())
    remote = json.loads((tmp_path / "cluster.json").read_text())
    assert len(local["points"]) == 2
    assert _without_times(remote) == _without_times(local)


def test_a_failed_task_on_the_cluster_raises_its_error(cluster) -> None:
    seen: list[int] = []
    with pytest.raises(ValueError, match="task 2 failed"):
        run_tasks(fail_on, [(1, 2, 0.0), (2, 2, 0.0)], progress=False, on_result=seen.append,
                  scheduler=cluster.scheduler_address)
    results, interrupted = run_tasks(fail_on, [(1, 9, 0.0), (3, 9, 0.0)], progress=False,
                                     scheduler=cluster.scheduler_address)
    assert sorted(results) == [1, 3] and not interrupted


@pytest.mark.parametrize("address", ["10.0.0.5:8786", "http://h:1", "tcp://host", "tcp://a b:1"])
def test_a_malformed_scheduler_address_exits_2(address: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        rd_gap.main(SWEEP + ["--scheduler", address])
    assert e.value.code == 2
    assert "--scheduler must be a Dask scheduler address" in capsys.readouterr().err


def test_a_scheduler_that_does_not_answer_is_refused() -> None:
    with pytest.raises(ValueError, match="--scheduler: no Dask scheduler answers at tcp://127.0.0.1:9"):
        check_scheduler("tcp://127.0.0.1:9", timeout_s=1.0)
