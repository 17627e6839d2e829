"""Reading and decoding files in parallel, in the processes a `ReadingRuntime` keeps."""
from __future__ import annotations

import functools
import math
import os
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
what is left: few round trips (each run's results are pickled, sent and unpickled while the other
process reads; README gives the figures)."""


SMALLEST_RUN_SHARE = 32
"""`shrinking_runs` makes no run smaller than the items over (processes × this), but for the last: the
last runs of a 140-file series are 3 files, so that two processes decoding frames of 5 ms (JPEG-LS,
JPEG lossless) or 30 ms (JPEG 2000) end within a few frames of each other (README, Benchmark)."""


def shrinking_runs(items: list, processes: int) -> list[list]:
    """`items` cut into runs of consecutive items for `processes` processes, each run a share of what
    is left (1 / (processes × BATCHES_PER_PROCESS)), down to a floor (SMALLEST_RUN_SHARE).

    The first runs are large (few round trips, long runs of files for the layout follower); the last
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
    (a run sent in a compact form: packed_runs.py)."""
    from concurrent.futures.process import BrokenProcessPool

    pool = runtime.pool(processes)
    runs = shrinking_runs(items, processes)
    try:
        if unpack is not None:
            return [result for run, returned in zip(runs, pool.map(function, runs)) for result in unpack(run, returned)]
        return [result for results in pool.map(function, runs) for result in results]
    except BrokenProcessPool:
        runtime.close_pools()  # a process died (killed, out of memory): the next call starts new ones
        raise


def map_run(function: Callable, run: list) -> list:
    return [function(item) for item in run]


def exit_with_parent(parent: int) -> None:
    """Run in each pool process: end it once the process that started it is gone (killed without the
    chance to stop its pool), instead of leaving it waiting for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
