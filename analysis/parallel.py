"""Run independent tasks in this process, in worker processes, or on a Dask distributed cluster,
with a progress bar and a clean Ctrl-C (the finished results are kept, the running workers are stopped).

Every task is seeded and independent, so where it runs changes no result: a sweep gives the same JSON
on one process, on a local pool and on a cluster (``tests/analysis/test_cluster.py`` checks it on a
``LocalCluster``)."""

from __future__ import annotations

import multiprocessing as mp
import re
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

__all__ = ["run_tasks", "worker_context", "check_scheduler", "add_scheduler_argument", "ran_on", "SCHEDULER_PATTERN"]

_SIGNAL_POLL_S = 0.25
"""How often a waiting parent wakes, at least, so that a Ctrl-C is acted on within this time."""

SCHEDULER_PATTERN = re.compile(r"^(tcp|tls|ucx|ws|wss)://[^\s/:]+:\d{1,5}$")
"""A Dask scheduler address: PROTOCOL://HOST:PORT."""


def check_scheduler(address: str, connect: bool = True, timeout_s: float = 10.0) -> str:
    """``address`` if it is a Dask scheduler address (``tcp://HOST:PORT``) and, with ``connect``, a
    scheduler answers there within ``timeout_s``; else a ValueError naming ``--scheduler``, so a CLI
    refuses it before any work (exit 2).

    Example:
        >>> check_scheduler("tcp://10.0.0.5:8786", connect=False)
        'tcp://10.0.0.5:8786'
        >>> check_scheduler("10.0.0.5:8786", connect=False)
        Traceback (most recent call last):
        ...
        ValueError: --scheduler must be a Dask scheduler address PROTOCOL://HOST:PORT (e.g. tcp://10.0.0.5:8786), got '10.0.0.5:8786'
    """
    if not isinstance(address, str) or not SCHEDULER_PATTERN.match(address):
        raise ValueError(
            f"--scheduler must be a Dask scheduler address PROTOCOL://HOST:PORT (e.g. tcp://10.0.0.5:8786), got {address!r}"
        )
    if connect:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs Dask distributed: pip install -e '.[cluster]'") from None
        try:
            Client(address, timeout=timeout_s, set_as_default=False).close()
        except (OSError, TimeoutError) as e:
            raise ValueError(f"--scheduler: no Dask scheduler answers at {address} within {timeout_s:g} s ({e})") from None
    return address


def add_scheduler_argument(parser: Any) -> None:
    """Add the ``--scheduler ADDRESS`` flag every sweep command takes (checked by :func:`check_scheduler`) to
    ``parser``, an :class:`argparse.ArgumentParser` or one of its argument groups."""
    parser.add_argument("--scheduler", type=str, default=None, metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://HOST:PORT): the tasks run on that cluster instead of "
                        "local processes (README: Sweeps on a cluster)")


def ran_on(jobs: int, scheduler: str | None) -> str:
    """Where :func:`run_tasks` ran, for a command's closing line.

    Example:
        >>> ran_on(2, None), ran_on(2, "tcp://10.0.0.5:8786")
        ('2 process(es)', 'the cluster at tcp://10.0.0.5:8786')
    """
    return f"the cluster at {scheduler}" if scheduler else f"{jobs} process(es)"


def worker_context() -> Any:
    """How the local pool starts its workers: forked where the OS can fork (Linux), else spawned.

    Why fork. A spawned worker starts a fresh interpreter and imports torch and the package again
    (about 3 s on the 2-core machine, for every worker, in every sweep); a forked one starts with the
    parent's modules already imported. Fork copies only the calling thread, so a child that entered an
    OpenMP parallel region with more than one thread would wait for a team of the parent's that does
    not exist there (measured: a forked worker hangs in its first threaded torch operation after the
    parent ran one); :func:`_init_worker` therefore puts torch at one thread before any task runs, as
    every task of this project does itself (one process per core). macOS and Windows spawn, where
    fork is unsafe or absent."""
    return mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _init_worker() -> None:
    """Worker initializer. A terminal's Ctrl-C reaches the whole process group, but only the parent
    decides what an interrupt means (it keeps the finished results and stops the workers), so the
    workers ignore it instead of turning it into tracebacks of their own. And tqdm's lock (a bar in
    a task) is a thread lock here, not a multiprocessing one: a worker that is terminated cannot
    release a named semaphore, which the resource tracker would then report as leaked. A forked
    worker that has torch from its parent runs it on one thread (see :func:`worker_context`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the tasks not started and end the running ones now.

    ``shutdown(wait=False, cancel_futures=True)`` alone leaves running workers computing until their
    task ends (and the interpreter's exit then waits for them), so their processes are terminated too.
    Python 3.11 has no public handle on them (3.14 adds ``terminate_workers``): ``_processes`` is the
    executor's own map of pid -> Process, read before ``shutdown`` clears it.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # cleared by shutdown, like _processes
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():  # SIGTERM ignored or stuck in C code: SIGKILL cannot be
            process.kill()
            process.join()
    if manager is not None:  # it sees the workers gone and releases the queues (else: "leaked semaphore" warnings)
        manager.join(timeout=5)


def run_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    jobs: int = 1,
    progress: bool = True,
    desc: str = "tasks",
    inline_extra: tuple = (),
    on_result: Callable[[Any], None] | None = None,
    scheduler: str | None = None,
) -> tuple[list[Any], bool]:
    """``fn(*task)`` for every task; returns (results in completion order, interrupted).

    With ``jobs > 1`` tasks run in worker processes (:func:`worker_context`: forked on Linux, each
    worker's torch on one thread, else spawned). ``inline_extra`` is appended to the arguments only when running in this process
    (e.g. a flag that turns on nested progress bars, which would garble output from workers).
    ``on_result(result)`` is called in this process as each result arrives, before the next is
    awaited (e.g. to write it to a log, so that it survives whatever happens later).

    With ``scheduler`` (a Dask scheduler address, :func:`check_scheduler`) the tasks go to that cluster
    instead (``jobs`` is then the cluster's business): one future per task, results taken as they
    complete; an error or Ctrl-C cancels the futures not finished.

    A KeyboardInterrupt (Ctrl-C) cancels the tasks not started, terminates the workers running
    others, and returns the results finished so far with ``interrupted=True``. Any other error (of a
    task or of ``on_result``) stops the workers the same way and is raised; the results already
    passed to ``on_result`` are all that is kept.

    Example:
        >>> seen = []
        >>> run_tasks(pow, [(2, 3), (3, 2)], progress=False, on_result=seen.append)
        ([8, 9], False)
        >>> seen
        [8, 9]
    """
    results: list[Any] = []
    interrupted = False

    def finished(result: Any) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)
        bar.update()

    bar = tqdm(total=len(tasks), desc=desc, disable=not progress)
    try:
        if scheduler is not None:
            _run_on_cluster(fn, tasks, scheduler, finished)
        elif jobs <= 1:
            for t in tasks:
                finished(fn(*t, *inline_extra))
        elif tasks:
            pool = ProcessPoolExecutor(max_workers=jobs, mp_context=worker_context(), initializer=_init_worker)
            try:
                pending: set[Future[Any]] = {pool.submit(fn, *t) for t in tasks}
                while pending:
                    # Python runs signal handlers in this (main) thread, but the OS may hand a Ctrl-C to any
                    # thread; a wait without timeout would then sleep through it until a task finishes
                    done, pending = wait(pending, timeout=_SIGNAL_POLL_S, return_when=FIRST_COMPLETED)
                    # every result that arrived is kept before a failed task's error is raised
                    failed = [fut for fut in done if fut.exception() is not None]
                    for fut in done:
                        if fut not in failed:
                            finished(fut.result())
                    if failed:
                        failed[0].result()
            except BaseException:
                _stop_pool(pool)
                raise
            pool.shutdown(wait=True)
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted: reporting the {len(results)} results that finished", file=sys.stderr)
    finally:
        bar.close()
    return results, interrupted


def _run_on_cluster(fn: Callable[..., Any], tasks: Sequence[tuple], scheduler: str, finished: Callable[[Any], None]) -> None:
    """Submit every task to the Dask scheduler and hand each result to ``finished`` as it completes."""
    from distributed import Client, as_completed

    client = Client(scheduler, set_as_default=False)
    futures = [client.submit(fn, *t, pure=False) for t in tasks]
    try:
        for future in as_completed(futures, loop=client.loop):
            finished(future.result())  # a failed task raises its own error here
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        client.close()
