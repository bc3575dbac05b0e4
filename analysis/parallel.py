"""Run independent tasks in this process or in spawned worker processes, with a progress bar and a
clean Ctrl-C (the finished results are kept)."""

from __future__ import annotations

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

__all__ = ["run_tasks"]


def run_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple],
    jobs: int = 1,
    progress: bool = True,
    desc: str = "tasks",
    inline_extra: tuple = (),
) -> tuple[list[Any], bool]:
    """``fn(*task)`` for every task; returns (results in completion order, interrupted).

    With ``jobs > 1`` tasks run in spawned processes (safe with torch's thread pools, the same on
    every OS). ``inline_extra`` is appended to the arguments only when running in this process
    (e.g. a flag that turns on nested progress bars, which would garble output from workers).
    """
    results: list[Any] = []
    interrupted = False
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress)
    try:
        if jobs <= 1:
            for t in tasks:
                results.append(fn(*t, *inline_extra))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
                futures = [pool.submit(fn, *t) for t in tasks]
                try:
                    for fut in as_completed(futures):
                        results.append(fut.result())
                        bar.update()
                except KeyboardInterrupt:
                    for fut in futures:
                        fut.cancel()
                    raise
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted: reporting the {len(results)} results that finished", file=sys.stderr)
    finally:
        bar.close()
    return results, interrupted
