"""Pausing Python's cyclic garbage collector while a series' records are made.

A series of thousands of files makes tens of thousands of small records (images, frames, histograms,
references to slices), none of them in a cycle. Each allocation counts towards the collector's next
pass, and each pass walks the young records again, then every record of the process: passes that free
nothing and that cost a time series a quarter of the parent's CPU (README, Benchmark). Reference
counting still frees what is dropped; whatever cycles arise meanwhile are collected once the pause ends.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector is enabled again after it, unless it was
    disabled before (by another thread's pause too: the first to pause enables it again)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
