"""Reading and decoding files in parallel, in the processes a `ReadingRuntime` keeps."""
from __future__ import annotations

import functools
import math
import os
import pickle
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtime import ReadingRuntime

PARENT_CHECK_SECONDS = 1.0
"""How often a pool process checks that the process that started it is still there."""


BATCHES_PER_PROCESS = 2
"""The first run of `shrinking_runs` is the items over (processes × this), each next one that share of
what is left: few runs (each starts a reader of its own, whose first file's header is walked in full;
README gives the figures)."""


TASKS_PER_PROCESS = 2
"""`parallel_runs` gives the runs to (processes × this) tasks, each taking at most its share of them: the
results of the first tasks come back while the last are computed, not all at the end."""


SMALLEST_RUN_SHARE = 32
"""`shrinking_runs` makes no run smaller than the items over (processes × this), but for the last: the
last runs of a 140-file series are 3 files, so that two processes decoding frames of 5 ms (JPEG-LS,
JPEG lossless) or 30 ms (JPEG 2000) end within a few frames of each other (README, Benchmark)."""


def shrinking_runs(items: list, processes: int) -> list[list]:
    """`items` cut into runs of consecutive items for `processes` processes, each run a share of what
    is left (1 / (processes × BATCHES_PER_PROCESS)), down to a floor (SMALLEST_RUN_SHARE).

    The first runs are large (long runs of files for the layout follower); the last
    are small, so that the processes end together even when one was slowed (by other work, or by
    slices that take longer to decode) rather than one waiting on another's last large run.
    """
    smallest = max(1, math.ceil(len(items) / (processes * SMALLEST_RUN_SHARE)))
    runs, start = [], 0
    while start < len(items):
        size = max(smallest, math.ceil((len(items) - start) / (processes * BATCHES_PER_PROCESS)))
        runs.append(items[start : start + size])
        start += size
    return runs


def parallel_map(function: Callable, items: list, processes: int, runtime: ReadingRuntime) -> list:
    """[function(item) for item in items], computed in the runtime's pool of `processes` processes.

    `function` runs in a pool process, where `runtime.process_runtime()` is the `runtime` given here.
    """
    return parallel_runs(functools.partial(map_run, function), items, processes, runtime)


def parallel_runs(
    function: Callable[[list], Any],
    items: list,
    processes: int,
    runtime: ReadingRuntime,
    unpack: Callable[[list, Any], list] | None = None,
) -> list:
    """The results of `function(run)` for the `shrinking_runs` of `items`, one result per item, in
    order: each run is computed in one of the runtime's `processes` processes. With `unpack`, what
    `function` returns for a run is made into the run's results here by `unpack(run, returned)`
    (a run sent in a compact form: packed_runs.py).

    Each process is given every run and takes the next one itself (`take_runs`) as soon as it is
    done with one: no process waits for this one to hand it a run. A task takes at most its share
    of the runs (TASKS_PER_PROCESS), so that results come back while the others are computed
    (README, Benchmark).
    """
    from concurrent.futures import as_completed, wait
    from concurrent.futures.process import BrokenProcessPool

    runs = shrinking_runs(items, processes)
    pool = runtime.pool(processes)
    count = min(len(runs), processes * TASKS_PER_PROCESS)
    # Each run pickled once: every task receives them all, and unpickles only those it takes.
    pickled = [pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL) for run in runs]
    results: list[list] = [[] for _ in runs]
    try:
        with pool.calls:
            pool.next_run.value = 0
            tasks = [pool.executor.submit(take_runs, function, pickled, math.ceil(len(runs) / count)) for _ in range(count)]
            try:
                for task in as_completed(tasks):  # a task's runs unpacked here while the others are computed
                    for number, returned in task.result():
                        results[number] = returned if unpack is None else unpack(runs[number], returned)
            finally:
                wait(tasks)  # every process has stopped taking runs before another call resets the counter
    except BrokenProcessPool:
        runtime.close_pools()  # a process died (killed, out of memory): the next call starts new ones
        raise
    return [result for run_results in results for result in run_results]


def take_runs(function: Callable[[list], Any], runs: list[bytes], most: int) -> list[tuple[int, Any]]:
    """Run in a pool process: take up to `most` of the (pickled) runs not yet taken by another task,
    one after another, and compute them; their numbers and results."""
    from .runtime import process_runtime  # here: runtime.py imports this module

    next_run = process_runtime().next_run
    taken = []
    while len(taken) < most:
        with next_run.get_lock():
            number = next_run.value
            next_run.value = number + 1
        if number >= len(runs):
            return taken
        taken.append((number, function(pickle.loads(runs[number]))))
    return taken


def map_run(function: Callable, run: list) -> list:
    return [function(item) for item in run]


class ReadingPool:
    """A runtime's processes for one degree of parallelism, and the number of the next run of the
    current `parallel_runs` call, which they share (each process takes its runs through it)."""

    def __init__(self, processes: int, context, initializer: Callable, initargs: tuple) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.next_run = context.Value("q", 0)
        self.calls = threading.Lock()  # one call at a time: they would share the counter
        self.executor = ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=initializer, initargs=(*initargs, self.next_run)
        )


def exit_with_parent(parent: int) -> None:
    """Run in each pool process: end it once the process that started it is gone (killed without the
    chance to stop its pool), instead of leaving it waiting for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
