"""The body: the patient without the couch and the air around, found slice by slice in bounded memory.

How: voxels above BODY_THRESHOLD_HU (CT), or above the series' Otsu threshold (other modalities), are
opened (BODY_OPENING_ITERATIONS) so that a couch pad touching the skin through a thin line comes
apart, and labelled in 2D per slice. Labels of neighbouring slices that overlap are joined with a
union-find into 3D components; the largest (by voxels) is the body. Each of its slices then gets back
the tissue the opening shaved off its edges (a dilation as deep as the opening, within the tissue),
and has its holes filled (lungs, bowel gas, the inside of a skull), so that everything inside the
skin counts.
Only two slices' labels are held at a time: memory does not grow with the number of slices.
A time series has a body per time point (the patient may move or breathe between them), each found
in that time point's slices alone; the slices of all time points are numbered as the histograms hold
them, time point after time point.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import chain

import numpy as np
from scipy import ndimage

from .histograms import TABLE_MAX_SPAN, MeasurementError, VolumeHistogram
from .slices import SliceStack, iter_slice_modality
from .thresholds import automatic_threshold

BODY_THRESHOLD_HU = -500.0
"""On CT, tissue lies above this and air below (air −1000 HU, lung about −800 to −500, fat −100)."""

BODY_OPENING_ITERATIONS = 2
"""Erosions then dilations (3×3 cross) before labelling: parts joined by a line ≤ 4 pixels wide come apart."""

STRUCTURE_2D = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Body:
    """Which 2D components of each slice belong to the body, and the threshold that found them.

    label_starts   (F+1,) int64, where each slice's entries begin in `labels`
    labels         (N,) int32, the slice's labels (from `label_slice`) that are part of the body
    """

    threshold_modality: float
    label_starts: np.ndarray
    labels: np.ndarray

    def slice_labels(self, number: int) -> np.ndarray:
        return self.labels[self.label_starts[number] : self.label_starts[number + 1]]

    def mask(self, modality: np.ndarray, number: int) -> np.ndarray:
        """(rows, columns) bool: slice `number`'s voxels inside the body (its holes filled)."""
        labels = label_slice(modality, self.threshold_modality)
        kept = np.zeros(int(labels.max()) + 1, dtype=bool)
        kept[self.slice_labels(number)] = True
        inside = kept[labels]
        if BODY_OPENING_ITERATIONS and inside.any():
            # Give back the edges and corners the opening took, but nothing that is not tissue.
            grown = ndimage.binary_dilation(inside, STRUCTURE_2D, iterations=BODY_OPENING_ITERATIONS)
            inside = grown & (modality > self.threshold_modality)
        return fill_holes(inside)

    def save(self, stream) -> None:
        meta = {"threshold_modality": self.threshold_modality}
        np.savez_compressed(stream, meta=np.array(json.dumps(meta)), label_starts=self.label_starts, labels=self.labels)

    @classmethod
    def load(cls, stream) -> Body:
        with np.load(stream, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(meta["threshold_modality"], data["label_starts"], data["labels"])

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    @classmethod
    def one_after_another(cls, bodies: Sequence[Body]) -> Body:
        """The bodies of consecutive runs of slices (the time points) as one, slices numbered on."""
        starts = [np.zeros(1, dtype=np.int64)]
        for body in bodies:
            starts.append(body.label_starts[1:] + starts[-1][-1])
        labels = [body.labels for body in bodies]
        return cls(bodies[0].threshold_modality, np.concatenate(starts), np.concatenate(labels).astype(np.int32))


def preview_inside(body: Body, histogram: VolumeHistogram) -> np.ndarray:
    """(rows, columns) bool: the voxels of the histogram's preview (the middle slice of the first time
    point) inside the body; its modality values come from the histogram, no pixel is read."""
    return body.mask(histogram.values[histogram.preview_value_index], histogram.slices // 2)


def body_threshold(histogram: VolumeHistogram) -> float:
    """Where tissue begins: BODY_THRESHOLD_HU on CT, else the Otsu threshold of the series."""
    if histogram.modality.upper() == "CT":
        return BODY_THRESHOLD_HU
    return automatic_threshold("otsu", histogram.values, histogram.value_counts)


def label_slice(modality: np.ndarray, threshold: float) -> np.ndarray:
    """(rows, columns) int32 labels of the opened tissue of one slice; 0 outside. Deterministic."""
    tissue = modality > threshold
    if BODY_OPENING_ITERATIONS:
        tissue = ndimage.binary_opening(tissue, STRUCTURE_2D, iterations=BODY_OPENING_ITERATIONS)
    labels, _ = ndimage.label(tissue, STRUCTURE_2D)
    return labels.astype(np.int32, copy=False)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` with every region it encloses filled: what binary_fill_holes gives, from one labelling
    of the outside instead of dilations repeated until nothing changes (faster at 512²)."""
    outside, _ = ndimage.label(~mask, STRUCTURE_2D)
    edges = np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]])
    open_to_edge = np.zeros(int(outside.max()) + 1, dtype=bool)
    open_to_edge[edges] = True
    open_to_edge[0] = False
    return ~open_to_edge[outside]


@dataclass(frozen=True)
class SliceComponents:
    """One slice's 2D components: their sizes (label k at index k − 1), and which of the previous
    slice's labels each overlaps, as (previous label, label) pairs."""

    sizes: np.ndarray
    overlaps: np.ndarray


def slice_components(slices: Iterable[np.ndarray], threshold: float) -> list[SliceComponents]:
    """The components of consecutive slices, each slice labelled once."""
    found = []
    previous = None
    for modality in slices:
        labels = label_slice(modality, threshold)
        sizes = np.bincount(labels.ravel())[1:]
        overlaps = np.zeros((0, 2), dtype=np.int64)
        if previous is not None:
            both = (previous > 0) & (labels > 0)
            width = len(sizes) + 1
            pairs = np.unique(previous[both].astype(np.int64) * width + labels[both])
            overlaps = np.stack([pairs // width, pairs % width], axis=1)
        found.append(SliceComponents(sizes, overlaps))
        previous = labels
    return found


def join_components(per_slice: list[SliceComponents], threshold: float) -> Body:
    """Union-find over the slices' components; the largest 3D component is the body."""
    firsts = np.zeros(len(per_slice) + 1, dtype=np.int64)  # the global id of each slice's label 1
    firsts[1:] = np.cumsum([len(c.sizes) for c in per_slice])
    parent = list(range(int(firsts[-1])))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for number, components in enumerate(per_slice):
        for a, b in components.overlaps.tolist():
            ra, rb = root(int(firsts[number - 1]) + a - 1), root(int(firsts[number]) + b - 1)
            if ra != rb:
                parent[rb] = ra
    starts = np.zeros(len(per_slice) + 1, dtype=np.int64)
    if not parent:
        return Body(threshold, starts, np.zeros(0, dtype=np.int32))
    roots = np.array([root(node) for node in range(len(parent))], dtype=np.int64)
    sizes = np.concatenate([c.sizes for c in per_slice]).astype(np.float64)
    members = roots == int(np.argmax(np.bincount(roots, weights=sizes)))
    labels_of_slices = [
        (np.flatnonzero(members[firsts[n] : firsts[n + 1]]) + 1).astype(np.int32) for n in range(len(per_slice))
    ]
    starts[1:] = np.cumsum([len(x) for x in labels_of_slices])
    return Body(threshold, starts, np.concatenate(labels_of_slices))


def find_body(slices: Iterable[np.ndarray], threshold: float) -> Body:
    """The largest 3D component of tissue, from slices in stack order (each read once)."""
    return join_components(slice_components(slices, threshold), threshold)


def body_histogram(histogram: VolumeHistogram, body: Body, slices: Iterable[np.ndarray]) -> VolumeHistogram:
    """The histogram of the voxels inside the body only, on the series' own value axis.

    The value axis (and so the series' minimum and maximum, which a normalised threshold refers to)
    stays the whole series'; only the counts are the body's.
    """
    starts = [0]
    value_index = []
    counts = []
    index_of = value_indexer(histogram.values)
    for number, modality in enumerate(slices):
        inside = modality[body.mask(modality, number)]
        per_value = np.bincount(index_of(inside), minlength=len(histogram.values))
        index = np.flatnonzero(per_value)
        value_index.append(index.astype(np.int32))
        counts.append(per_value[index].astype(np.int64))
        starts.append(starts[-1] + len(index))
    return replace(
        histogram,
        frame_starts=np.array(starts, dtype=np.int64),
        frame_value_index=np.concatenate(value_index) if value_index else np.zeros(0, np.int32),
        frame_counts=np.concatenate(counts) if counts else np.zeros(0, np.int64),
    )


def value_indexer(values: np.ndarray):
    """A function giving the index into `values` (ascending, distinct) of each of an array of them.

    Whole-numbered values spanning fewer than TABLE_MAX_SPAN (CT in HU) are looked up in a table,
    faster than a binary search per voxel (README, "Figures behind the code"); others are searched.
    """
    low, high = float(values[0]), float(values[-1])
    if high - low < TABLE_MAX_SPAN and np.array_equal(values, np.rint(values)):
        table = np.zeros(int(high - low) + 1, dtype=np.int64)
        table[(values - low).astype(np.int64)] = np.arange(len(values))
        return lambda wanted: table[(wanted - low).astype(np.int64)]
    return lambda wanted: np.searchsorted(values, wanted)


def measure_body(histogram: VolumeHistogram, stacks: Sequence[SliceStack]) -> tuple[Body, VolumeHistogram]:
    """Find the body of a volume, of each time point on its own (`stacks`: one per time point, in the
    histograms' order, `time_point_stacks`), and the histogram of the voxels inside it: two passes
    over the pixels.

    One process: runs of slices handed to the decoding processes measured slower on a 2-core
    machine (bench/viewer.py; README, "Figures behind the code").
    """
    measured = np.diff(histogram.time_point_starts).tolist()
    readable = [stack.count for stack in stacks]
    if readable != measured:
        if len(measured) == 1:
            raise MeasurementError(
                f"the body cannot be found: {sum(readable)} slices can be read now, {measured[0]} were measured"
            )
        raise MeasurementError(
            f"the body cannot be found: the time points have {', '.join(map(str, readable))} slices that can be "
            f"read now, {', '.join(map(str, measured))} were measured"
        )
    threshold = body_threshold(histogram)
    body = Body.one_after_another([find_body(iter_slice_modality(stack), threshold) for stack in stacks])
    every_slice = chain.from_iterable(iter_slice_modality(stack) for stack in stacks)
    return body, body_histogram(histogram, body, every_slice)
