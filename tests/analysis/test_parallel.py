"""analysis.parallel.run_tasks: results in both modes, on_result as results arrive, and a Ctrl-C or a
failed task that stops the workers at once and keeps every finished result."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from analysis.parallel import run_tasks

LONG_SECONDS = 120.0  # far beyond any test's patience: a run that waits for these is the bug


def sleep_then(value: int, seconds: float, pid_dir: str | None = None) -> int:
    """A task for worker processes (importable by name, as spawn needs): note this process's pid, sleep, return."""
    if pid_dir is not None:
        Path(pid_dir, f"{value}.pid").write_text(str(os.getpid()))
    time.sleep(seconds)
    return value


def fail_on(value: int, bad: int, seconds: float, pid_dir: str | None = None) -> int:
    """A task that fails (``value == bad``) or returns, after ``seconds``."""
    if value == bad:
        time.sleep(seconds)
        raise ValueError(f"task {value} failed")
    return sleep_then(value, seconds, pid_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _worker_pids(pid_dir: Path) -> list[int]:
    return [int(p.read_text()) for p in pid_dir.glob("*.pid")]


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_result_is_returned_and_passed_to_on_result(jobs):
    seen = []
    results, interrupted = run_tasks(pow, [(2, k) for k in range(5)], jobs=jobs, progress=False, on_result=seen.append)
    assert sorted(results) == [1, 2, 4, 8, 16] and not interrupted
    assert seen == results  # in arrival order, each once


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="SIGINT is handled in the main thread")
def test_ctrl_c_to_the_parent_alone_returns_the_finished_results_at_once_and_stops_the_workers(tmp_path):
    # two fast tasks finish, two long ones are running (or queued) when SIGINT reaches this process only
    tasks = [(0, 0.0, str(tmp_path)), (1, 0.0, str(tmp_path)), (2, LONG_SECONDS, str(tmp_path)),
             (3, LONG_SECONDS, str(tmp_path))]
    fast_done = threading.Event()
    seen = []
    sent: dict[str, float | int] = {}

    def on_result(value):
        seen.append(value)
        if len(seen) == 2:
            fast_done.set()

    def interrupt_once_long_tasks_run():
        fast_done.wait(60)
        deadline = time.monotonic() + 30
        while len(_worker_pids(tmp_path)) < 3 and time.monotonic() < deadline:  # a long task has started
            time.sleep(0.05)
        sent["pid_files"] = len(_worker_pids(tmp_path))
        sent["at"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Thread(target=interrupt_once_long_tasks_run, daemon=True)
    try:
        timer.start()
        results, interrupted = run_tasks(sleep_then, tasks, jobs=2, progress=False, on_result=on_result)
        returned_at = time.monotonic()
    finally:
        timer.join(5)
        signal.signal(signal.SIGINT, previous)
    assert sent.get("pid_files", 0) >= 3, f"no long task had started when the signal was sent: {sent}"
    assert interrupted and sorted(results) == [0, 1] and seen == results
    # measured from the signal, not from the start (spawning workers on a loaded machine takes a while)
    assert returned_at - sent["at"] < LONG_SECONDS / 4  # it did not wait for the long tasks
    pids = _worker_pids(tmp_path)
    assert len(pids) >= 3 and not [pid for pid in pids if _alive(pid)]


def test_an_interrupt_while_handling_a_result_keeps_the_results_before_it(tmp_path):
    # the same path entered from inside the parent's loop instead of from a signal
    tasks = [(0, 0.0, str(tmp_path)), (1, 0.0, str(tmp_path)), (2, LONG_SECONDS, str(tmp_path))]
    calls: list[int] = []

    def on_result(value):
        calls.append(value)
        if len(calls) == 2:
            raise KeyboardInterrupt

    start = time.monotonic()
    results, interrupted = run_tasks(sleep_then, tasks, jobs=2, progress=False, on_result=on_result)
    assert interrupted and time.monotonic() - start < LONG_SECONDS / 4
    assert sorted(results) == [0, 1]  # the result being handled had arrived: it is kept
    assert not [pid for pid in _worker_pids(tmp_path) if _alive(pid)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_task_stops_the_run_after_the_finished_results_were_passed_on(jobs, tmp_path):
    # tasks 0-2 are instant, task 3 fails after a second, task 4 would run long: the error comes at
    # once, after the three results, and no worker is left running task 4
    tasks = [(k, 3, 0.0) for k in range(3)] + [(3, 3, 1.0), (4, 3, LONG_SECONDS, str(tmp_path))]
    seen: list[int] = []
    start = time.monotonic()
    with pytest.raises(ValueError, match="task 3 failed"):
        run_tasks(fail_on, tasks, jobs=jobs, progress=False, on_result=seen.append)
    assert time.monotonic() - start < LONG_SECONDS / 4
    assert sorted(seen) == [0, 1, 2]
    assert not [pid for pid in _worker_pids(tmp_path) if _alive(pid)]


def threaded_sum(n: int) -> tuple[int, float]:
    """A task that runs a torch operation large enough for intra-op threads; returns (threads, result)."""
    import torch

    return torch.get_num_threads(), float(torch.ones(n).exp().sum())


FORKED_AFTER_THREADS = """
import json
import torch
from analysis.parallel import run_tasks, worker_context
from tests.analysis.test_parallel import threaded_sum
torch.set_num_threads(2)
torch.ones(4_000_000).exp().sum()  # the parent's OpenMP team exists now
results, _ = run_tasks(threaded_sum, [(4_000_000,)] * 2, jobs=2, progress=False)
print(json.dumps({"method": worker_context().get_start_method(), "results": results}))
"""


def test_forked_workers_run_torch_on_one_thread_after_the_parent_ran_threads():
    # a forked child that entered an OpenMP region with more than one thread would wait forever for the
    # parent's team (libgomp), so the worker initializer caps torch at one thread: without the cap this hangs
    import json
    import math
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", FORKED_AFTER_THREADS], cwd=root, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["method"] == ("fork" if sys.platform.startswith("linux") else "spawn")
    assert [threads for threads, _ in report["results"]] == [1, 1]
    for _, total in report["results"]:  # float32 sum of 4e6 copies of e: a relative error of a few 1e-7 per add
        assert abs(total / (4_000_000 * math.e) - 1) < 1e-3
