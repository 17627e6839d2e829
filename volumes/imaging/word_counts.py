"""Counting the pixel words of a frame (the histogram of its raw 8- or 16-bit words), two ways, and
measuring which is faster on this machine.

`np.bincount` keeps one counter per possible word and adds pixels one at a time; sorting the words
and measuring their runs can be faster where numpy sorts 16-bit integers with wide vector units, and
is much slower where it cannot (or where those units are slow: AMD Zen 4). No CPU flag says which:
`measure_word_counting` times both on a CT-like frame, once per process (see `runtime.py`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

BINCOUNT = "bincount"
SORTING = "sorting"

SORTING_MARGIN = 1.2
"""How many times faster than bincount the sort must measure to be chosen: below that, the gain does
not pay for a path that depends on how the machine's vector units behave."""
MEASURE_ROUNDS = 5
"""Timed rounds of each way at most; the best of each is compared."""
CLEARLY_SLOWER = 3.0
"""The sort is timed no further once its best is this many times bincount's (it will not win)."""
FRAME_SIDE = 512
"""The measured frame is FRAME_SIDE × FRAME_SIDE: a CT slice."""


def count_words_by_bincount(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pixel words, ascending, and how many pixels hold each: one counter per possible word."""
    word_counts = np.bincount(words)
    present = word_counts.nonzero()[0]  # np.flatnonzero without its Python wrapper: this runs once a frame
    return present, word_counts[present]


def count_words_by_sorting(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same as `count_words_by_bincount`, by sorting the words in place and measuring their runs
    (a read-only array is copied first)."""
    if not words.flags.writeable:
        words = words.copy()
    words.sort()
    starts = np.concatenate(([0], np.flatnonzero(words[1:] != words[:-1]) + 1))
    return words[starts].astype(np.intp), np.diff(starts, append=words.size)


@dataclass(frozen=True)
class WordCounting:
    """The way this process counts 16-bit pixel words, and why (8-bit words are always bincounted:
    256 counters)."""

    method: str
    reason: str
    bincount_ms: float | None = None
    sorting_ms: float | None = None

    def count(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct words of a 1-D array of 8- or 16-bit words, ascending, and their counts. The
        words may be left reordered."""
        if self.method == SORTING and words.dtype == np.uint16 and words.size:
            return count_words_by_sorting(words)
        return count_words_by_bincount(words)


def measure_word_counting(rounds: int = MEASURE_ROUNDS) -> WordCounting:
    """Time both ways on a synthetic CT frame (FRAME_SIDE² 16-bit words) and choose: sorting only when
    it measures SORTING_MARGIN times faster than bincount (README, Benchmark: how long this takes)."""
    words = synthetic_ct_words()
    scratch = np.empty_like(words)  # sorting reorders its input: each round sorts a fresh copy
    bincount_s = sorting_s = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        count_words_by_bincount(words)
        bincount_s = min(bincount_s, time.perf_counter() - t0)
        np.copyto(scratch, words)
        t0 = time.perf_counter()
        count_words_by_sorting(scratch)
        sorting_s = min(sorting_s, time.perf_counter() - t0)
        if sorting_s > CLEARLY_SLOWER * bincount_s:
            break
    return choose_word_counting(bincount_s, sorting_s)


def choose_word_counting(bincount_s: float, sorting_s: float) -> WordCounting:
    """The way to count, from the best measured time of each on the same frame."""
    times = f"sorting {sorting_s * 1e3:.2f} ms, bincount {bincount_s * 1e3:.2f} ms"
    figures = f"on a {FRAME_SIDE}×{FRAME_SIDE} CT-like frame, {times}"
    if sorting_s * SORTING_MARGIN <= bincount_s:
        method, reason = SORTING, f"measured {figures}: sorting is at least {SORTING_MARGIN:g}× faster"
    else:
        method, reason = BINCOUNT, f"measured {figures}: sorting is not {SORTING_MARGIN:g}× faster"
    return WordCounting(method, reason, bincount_ms=bincount_s * 1e3, sorting_ms=sorting_s * 1e3)


def forced_word_counting(method: str) -> WordCounting:
    """A way of counting chosen without measuring (tests, and the benchmark's comparisons)."""
    if method not in (BINCOUNT, SORTING):
        raise ValueError(f"no way of counting words called {method!r}: {BINCOUNT} or {SORTING}")
    return WordCounting(method, f"{method} forced")


def synthetic_ct_words(side: int = FRAME_SIDE) -> np.ndarray:
    """A CT-like frame of stored words (HU + 1024, 12 bits): air around an elliptic body of soft
    tissue with two lungs and a bright spine, with noise: hundreds of distinct words, like a real slice;
    outside the reconstructed circle, one padding word without noise (a fifth of a real slice)."""
    y, x = np.ogrid[-1 : 1 : side * 1j, -1 : 1 : side * 1j]
    hu = np.full((side, side), -1000, dtype=np.int16)
    hu[(x / 0.85) ** 2 + (y / 0.6) ** 2 < 1] = 40
    hu[((np.abs(x) - 0.35) / 0.25) ** 2 + (y / 0.4) ** 2 < 1] = -850
    hu[x**2 + (y - 0.4) ** 2 < 0.01] = 700
    words = np.clip(hu.ravel() + hashed_noise(side * side) + 1024, 0, 4095).astype(np.uint16)
    words[(x**2 + y**2 > 1).ravel()] = 0  # the padding, HU −1024
    return words


def hashed_noise(count: int) -> np.ndarray:
    """`count` deterministic pseudo-random int16 values from −48 to 48, bell-shaped (the sum of two
    multiplicative hashes), without importing numpy.random (slow to import)."""
    index = np.arange(count, dtype=np.uint32)
    first = (index * np.uint32(2654435761)) >> np.uint32(25)  # 0..127
    second = ((index ^ np.uint32(0x5BD1E995)) * np.uint32(2246822519)) >> np.uint32(25)
    return ((first + second) * 97 // 255).astype(np.int16) - 48
