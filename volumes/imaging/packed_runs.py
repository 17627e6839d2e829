"""A run of read files as a reading process sends it to the process that asked for it.

A reading process (pools.parallel_runs) sends its results pickled; the parent unpickles them while the
other processes read. Most of what an image holds is cheap to send, but its Path (rebuilt part by part)
and its histograms' small arrays (two per frame) cost more to unpickle than the rest of the image: the
parent already holds the paths and names (the run's SourceFiles), and the histograms of a run travel
as two arrays, each image's as views of them. Fewer objects to rebuild means less work for the cyclic
garbage collector too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .images import DicomImage, NotAnImage, StoredHistogram, copy_with
from .sources import SourceFile

PACKED_DTYPE = np.dtype(np.int32)
"""Histograms whose values and counts are both of this type travel packed (pixels.compact makes most so);
any other travels inside its image, as it is."""


@dataclass(frozen=True)
class PackedRun:
    """A run's outcomes, in the order of its files, with the images' path and name left out and their
    packed histograms moved to `values` and `counts`.

    histograms_packed  per outcome, how many of its histograms are packed (0: its own, if any, kept on it)
    lengths            (H,) int64, entries of each packed histogram, in order
    """

    outcomes: list[DicomImage | NotAnImage]
    histograms_packed: list[int]
    lengths: np.ndarray
    values: np.ndarray
    counts: np.ndarray


def pack_run(outcomes: list[DicomImage | NotAnImage]) -> PackedRun:
    """What a reading process sends of a run's outcomes."""
    sent, packed, values, counts = [], [], [], []
    for outcome in outcomes:
        if isinstance(outcome, NotAnImage):
            sent.append(outcome)
            packed.append(0)
            continue
        histograms = outcome.histograms
        if histograms and all(h.values.dtype == PACKED_DTYPE and h.counts.dtype == PACKED_DTYPE for h in histograms):
            values.extend(h.values for h in histograms)
            counts.extend(h.counts for h in histograms)
            packed.append(len(histograms))
            sent.append(copy_with(outcome, path=None, name=None, histograms=None))
        else:
            packed.append(0)
            sent.append(copy_with(outcome, path=None, name=None))
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    return PackedRun(
        outcomes=sent,
        histograms_packed=packed,
        lengths=lengths,
        values=np.concatenate(values) if values else np.empty(0, PACKED_DTYPE),
        counts=np.concatenate(counts) if counts else np.empty(0, PACKED_DTYPE),
    )


def unpack_run(sources: list[SourceFile], run: PackedRun) -> list[DicomImage | NotAnImage]:
    """The outcomes as `read_run` gave them, for the run's `sources` (those it was read from)."""
    ends = np.cumsum(run.lengths).tolist()
    starts = [0, *ends[:-1]]
    values, counts = run.values, run.counts
    unpacked = []
    taken = 0
    for source, outcome, packed in zip(sources, run.outcomes, run.histograms_packed, strict=True):
        if isinstance(outcome, NotAnImage):
            unpacked.append(outcome)
        elif packed:
            histograms = tuple(
                StoredHistogram(values[starts[k] : ends[k]], counts[starts[k] : ends[k]])
                for k in range(taken, taken + packed)
            )
            taken += packed
            unpacked.append(copy_with(outcome, path=source.path, name=source.name, histograms=histograms))
        else:
            unpacked.append(copy_with(outcome, path=source.path, name=source.name))
    return unpacked
