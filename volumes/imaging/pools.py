"""Process pools kept for the life of a process, to read and decode files in parallel."""
from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

PARENT_CHECK_SECONDS = 1.0
"""How often a pool process checks that the process that started it is still there."""


BATCHES_PER_PROCESS = 2
"""How many batches each process of `parallel_map` takes: few enough to keep round trips rare (each
batch's results are pickled, sent and unpickled while the other process reads; 2 measured faster
than 1, 4 or 8 on a 600-slice series), more than one so that a process slowed by other work does
not hold up the rest for long."""


def parallel_map(function: Callable, items: list, processes: int) -> list:
    """[function(item) for item in items], computed in this process's pool of `processes` processes.

    Each process takes its share in a few large batches: fewer round trips between processes.
    """
    pool = process_pool(processes)
    batch = max(1, math.ceil(len(items) / (processes * BATCHES_PER_PROCESS)))
    try:
        return list(pool.map(function, items, chunksize=batch))
    except BrokenProcessPool:
        close_process_pools()  # a process died (killed, out of memory): the next call starts new ones
        raise


_process_pools: dict[tuple[int, int], ProcessPoolExecutor] = {}


def process_pool(processes: int) -> ProcessPoolExecutor:
    """This process's pool of `processes` processes (forked where possible), started on first use and
    kept: a worker measures series after series, and new processes cost each series about 20 ms to
    start and to warm up (their first reads fault in memory that later ones reuse)."""
    key = (os.getpid(), processes)  # a pool inherited through fork belongs to the parent
    pool = _process_pools.get(key)
    if pool is None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        pool = _process_pools[key] = ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=exit_with_parent, initargs=(os.getpid(),)
        )
    return pool


def exit_with_parent(parent: int) -> None:
    """Run in each pool process: end it once the process that started it is gone (killed without the
    chance to stop its pool), instead of leaving it waiting for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def close_process_pools() -> None:
    """Stop this process's pools and wait for their processes to end."""
    for key in [key for key in _process_pools if key[0] == os.getpid()]:
        _process_pools.pop(key).shutdown(wait=True, cancel_futures=True)
