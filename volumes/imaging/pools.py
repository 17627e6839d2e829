"""Reading and decoding files in parallel, in the processes a `ReadingRuntime` keeps."""
from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .runtime import ReadingRuntime

PARENT_CHECK_SECONDS = 1.0
"""How often a pool process checks that the process that started it is still there."""


BATCHES_PER_PROCESS = 2
"""How many batches each process of `parallel_map` takes: few enough to keep round trips rare (each
batch's results are pickled, sent and unpickled while the other process reads; README gives
the figures), more than one so that a process slowed by other work does
not hold up the rest for long."""


def parallel_map(function: Callable, items: list, processes: int, runtime: ReadingRuntime) -> list:
    """[function(item) for item in items], computed in the runtime's pool of `processes` processes.

    Each process takes its share in a few large batches: fewer round trips between processes.
    `function` runs in a pool process, where `runtime.process_runtime()` is the `runtime` given here.
    """
    from concurrent.futures.process import BrokenProcessPool

    pool = runtime.pool(processes)
    batch = max(1, math.ceil(len(items) / (processes * BATCHES_PER_PROCESS)))
    try:
        return list(pool.map(function, items, chunksize=batch))
    except BrokenProcessPool:
        runtime.close_pools()  # a process died (killed, out of memory): the next call starts new ones
        raise


def exit_with_parent(parent: int) -> None:
    """Run in each pool process: end it once the process that started it is gone (killed without the
    chance to stop its pool), instead of leaving it waiting for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
