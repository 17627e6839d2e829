"""What reading keeps for the life of a process, in one object that a test can make afresh.

A worker reads series after series; between them it keeps the processes that read in parallel, the
header values already converted, and the way of counting pixel words measured on this machine.
They belong to a `ReadingRuntime`: `process_runtime()` gives the one of this process (made on first
use); a test makes its own and passes it to `read_images`, `ImageReader` or `histogram_volume`.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydicom import config

from .headers import ConvertedValues
from .pools import ReadingPool, exit_with_parent
from .word_counts import WordCounting, measure_word_counting

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized


class ReadingRuntime:
    """The state reading keeps for the life of a process.

    - `word_counting`: how this process counts pixel words (`word_counts.py`), measured on first
      need, and always before a pool's processes are forked, so that they inherit the choice.
    - `converted`: header values converted so far (`headers.ConvertedValues`).
    - `pool(processes)`: processes kept to read in parallel, started on first use.
    """

    def __init__(self, word_counting: WordCounting | None = None) -> None:
        self._word_counting = word_counting
        self.converted = ConvertedValues()
        self._pools: dict[int, ReadingPool] = {}
        self._pools_of = os.getpid()  # pools inherited through fork belong to the parent
        self.next_run: Synchronized | None = None  # in a pool process: its pool's (pools.take_runs)

    @property
    def word_counting(self) -> WordCounting:
        if self._word_counting is None:
            self._word_counting = measure_word_counting()
        return self._word_counting

    @staticmethod
    def walks_headers() -> bool:
        """Whether headers may be walked without pydicom (`headers.py`): not while pydicom is set to
        call back on every element it reads (`pydicom.config.data_element_callback`), which only its
        own parse does."""
        return config.data_element_callback is None

    def pool(self, processes: int) -> ReadingPool:
        """This runtime's pool of `processes` processes (forked where possible), started on first use
        and kept: a worker measures series after series, and new processes cost each series the time
        to start and to warm up (README, Benchmark: "new processes")."""
        if self._pools_of != os.getpid():
            self._pools, self._pools_of = {}, os.getpid()
        pool = self._pools.get(processes)
        if pool is None:
            import multiprocessing  # here: a process that reads one file never needs them

            self.word_counting  # noqa: B018  measured here, once, rather than in every process
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            pool = self._pools[processes] = ReadingPool(processes, context, start_pool_process, (os.getpid(), self))
        return pool

    def close_pools(self) -> None:
        """Stop this runtime's pools and wait for their processes to end."""
        if self._pools_of != os.getpid():
            return
        while self._pools:
            _, pool = self._pools.popitem()
            pool.executor.shutdown(wait=True, cancel_futures=True)

    def __getstate__(self) -> dict:
        """What a process started without fork receives: the measured choice, not the pools or values."""
        return {"word_counting": self.word_counting}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["word_counting"])


_this_process: ReadingRuntime | None = None


def process_runtime() -> ReadingRuntime:
    """The runtime of this process: made on first use; in a pool process, the one that started the pool."""
    global _this_process
    if _this_process is None:
        _this_process = ReadingRuntime()
    return _this_process


def start_pool_process(parent: int, runtime: ReadingRuntime, next_run: Synchronized) -> None:
    """Run first in each pool process: take the runtime that started the pool as this process's, with
    the pool's counter of runs, and end when the parent does."""
    global _this_process
    _this_process = runtime
    runtime.next_run = next_run
    exit_with_parent(parent)
