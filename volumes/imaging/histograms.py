"""Reading the pixels once: a volume's per-slice histograms of modality values (`VolumeHistogram`).

A voxel's normalised value depends only on its modality value, so one histogram of modality values
per slice carries all a measurement needs: the minimum and maximum over the series, the voxels above
any threshold in any mode, automatic thresholds and statistics. The pixels are read once, slice by
slice, into a `VolumeHistogram`; every measurement, the first and each re-measurement, is arithmetic
on it (measure.py).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

from .collector import collector_paused
from .geometry import MAX_LISTED, Stack, build_stack
from .grouping import VolumeImages
from .images import DicomImage, NotAnImage, StoredHistogram
from .pixels import frame_histograms, frame_words, stored_values, word_value_indices
from .pools import parallel_map
from .runtime import ReadingRuntime, process_runtime


PARALLEL_MIN_FRAMES = 24
"""Below this many frames, decoding in one process beats starting others."""


FRAMES_PER_TASK = 8
"""Frames a decoding process takes at a time: fewer round trips, still an even spread."""


TABLE_MAX_SPAN = 1 << 17
"""Integer stored values spanning fewer than this are located through a lookup table (at most 1 MB)."""


class MeasurementError(Exception):
    """A volume that cannot be measured at all; the message says why."""


@dataclass(frozen=True)
class VolumeHistogram:
    """Everything a measurement needs of a volume, without its pixels.

    values               (K,) float64, the distinct modality values of the series, ascending
    frame_starts         (F+1,) int64, where each slice's entries begin in the two arrays below
    frame_value_index    (N,) int32, index into `values` of each entry
    frame_counts         (N,) int64, how many voxels of the slice hold that value
    preview_value_index  (rows, columns) int32, the middle slice (of the first time point) as indices into `values`
    slab_widths_mm       (F,) float64 in slice order, or None when the depth is unknown
    time_point_starts    (T+1,) int64, where each time point's slices begin among the F slices
    time_points          per time point, what the headers say of it (TimePoint.as_dict)
    """

    series_instance_uid: str
    modality: str
    description: str
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float] | None
    volume_unavailable_reason: str | None
    warnings: tuple[str, ...]
    monochrome1: bool
    values: np.ndarray
    frame_starts: np.ndarray
    frame_value_index: np.ndarray
    frame_counts: np.ndarray
    preview_value_index: np.ndarray
    slab_widths_mm: np.ndarray | None
    volume_label: str = ""
    time_point_starts: np.ndarray | None = None
    time_points: tuple[dict, ...] = ()
    value_counts: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        counts = np.bincount(self.frame_value_index, weights=self.frame_counts, minlength=len(self.values))
        object.__setattr__(self, "value_counts", np.rint(counts).astype(np.int64))
        if self.time_point_starts is None:
            object.__setattr__(self, "time_point_starts", np.array([0, len(self.frame_starts) - 1], dtype=np.int64))
        if not self.time_points:
            object.__setattr__(self, "time_points", tuple({"index": k + 1} for k in range(len(self.time_point_starts) - 1)))

    @property
    def slices(self) -> int:
        """Slices of the first time point."""
        return int(self.time_point_starts[1] - self.time_point_starts[0])

    def save(self, stream) -> None:
        meta = {
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "description": self.description,
            "rows": self.rows,
            "columns": self.columns,
            "pixel_spacing_mm": self.pixel_spacing_mm,
            "volume_unavailable_reason": self.volume_unavailable_reason,
            "warnings": list(self.warnings),
            "monochrome1": self.monochrome1,
            "volume_label": self.volume_label,
            "time_points": list(self.time_points),
        }
        arrays = {
            "values": self.values,
            "frame_starts": self.frame_starts,
            "frame_value_index": self.frame_value_index,
            "frame_counts": self.frame_counts,
            "preview_value_index": self.preview_value_index,
            "time_point_starts": self.time_point_starts,
        }
        if self.slab_widths_mm is not None:
            arrays["slab_widths_mm"] = self.slab_widths_mm
        np.savez(stream, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, stream) -> VolumeHistogram:
        with np.load(stream, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            spacing = meta.pop("pixel_spacing_mm")
            meta["time_points"] = tuple(meta.get("time_points", ()))
            return cls(
                **meta,
                time_point_starts=data["time_point_starts"] if "time_point_starts" in data.files else None,
                pixel_spacing_mm=tuple(spacing) if spacing else None,
                values=data["values"],
                frame_starts=data["frame_starts"],
                frame_value_index=data["frame_value_index"],
                frame_counts=data["frame_counts"],
                preview_value_index=data["preview_value_index"],
                slab_widths_mm=data["slab_widths_mm"] if "slab_widths_mm" in data.files else None,
            )

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()


@collector_paused()
def histogram_volume(volume: VolumeImages, processes: int = 1, runtime: ReadingRuntime | None = None) -> VolumeHistogram:
    """Decode every frame of a volume once (in parallel processes) into a VolumeHistogram.

    Images whose pixel data cannot be decoded are left out with a warning naming them; when none
    can be, MeasurementError.
    """
    images = list(volume.images)
    histograms, failures = histogram_images(images, processes, runtime or process_runtime())
    warnings = [f"left out {images[i].name}: {reason}" for i, reason in failures.items()]
    usable = [i for i in range(len(images)) if i not in failures]
    if not usable:
        if len(images) == 1:
            raise MeasurementError(f"{images[0].name} could not be read: {failures[0]}")
        raise MeasurementError(f"none of the {len(images)} images could be read; the first, {images[0].name}: {failures[0]}")
    renumbered = {old: new for new, old in enumerate(usable)}
    kept_images = [images[i] for i in usable]
    kept_histograms = [histograms[i] for i in usable]
    several = len(volume.time_point_list()) > 1
    stacks, points = [], []
    for time_point in volume.time_point_list():
        frames = [(renumbered[i], k) for i, k in time_point.frames if i in renumbered]
        if not frames:
            continue  # every image of it failed: named in the warnings
        stack = build_stack(kept_images, frames)
        if stack.refusal:
            raise MeasurementError(f"time point {time_point.index}: {stack.refusal}" if several else stack.refusal)
        stacks.append(stack)
        points.append(time_point.as_dict())
    notes = [note for image in kept_images for note in image.notes]
    if all(stack.volume_unavailable_reason is None for stack in stacks):
        warnings.extend(notes)
    if any(image.pixels.monochrome1 for image in kept_images):
        warnings.append(
            "MONOCHROME1: low values display bright; thresholds apply to the modality values, "
            "so 'above' means higher values, which this image shows darker"
        )
    stack_warnings = [warning for stack in stacks for warning in stack.warnings]
    counts = [len(stack.slices) for stack in stacks]
    if len(set(counts)) > 1:
        short = [str(point["index"]) for point, count in zip(points, counts) if count < max(counts)]
        warnings.append(
            f"the time points hold from {min(counts)} to {max(counts)} slices (fewer in time point"
            f"{'s' if len(short) > 1 else ''} {', '.join(short[:MAX_LISTED])}{' …' if len(short) > MAX_LISTED else ''}): "
            "their volumes cover different lengths"
        )
    return assemble(volume, kept_images, kept_histograms, stacks, points, list(dict.fromkeys([*stack_warnings, *warnings])))


def histogram_images(
    images: list[DicomImage], processes: int, runtime: ReadingRuntime
) -> tuple[dict[int, list[StoredHistogram]], dict[int, str]]:
    """Per image, the stored-value histogram of each frame (made now unless made while reading it);
    per image that fails, the reason."""
    histograms: dict[int, list[StoredHistogram]] = {
        index: list(image.histograms) for index, image in enumerate(images) if image.histograms is not None
    }
    chunks = frame_chunks([(index, image) for index, image in enumerate(images) if index not in histograms])
    total_frames = sum(stop - start for _, _, start, stop in chunks)
    if processes > 1 and total_frames >= PARALLEL_MIN_FRAMES and len(chunks) > 1:
        results = parallel_map(histogram_chunk, chunks, processes, runtime)
    else:
        results = [histogram_chunk(chunk, runtime) for chunk in chunks]
    failures: dict[int, str] = {}
    for (image_index, *_), outcome in zip(chunks, results):
        if isinstance(outcome, str):
            failures.setdefault(image_index, outcome)
        else:
            histograms.setdefault(image_index, []).extend(outcome)
    return histograms, failures


def frame_chunks(images: list[tuple[int, DicomImage]]) -> list[tuple[int, DicomImage, int, int]]:
    """Work items (image index, image, first frame, end frame): runs of frames of one file."""
    chunks = []
    for index, image in images:
        frames = len(image.frames)
        for start in range(0, frames, FRAMES_PER_TASK):
            chunks.append((index, image, start, min(frames, start + FRAMES_PER_TASK)))
    return chunks


def histogram_chunk(
    chunk: tuple[int, DicomImage, int, int], runtime: ReadingRuntime | None = None
) -> list[StoredHistogram] | str:
    """The histograms of a chunk's frames, or why they cannot be made (in a pool process: its runtime)."""
    _, image, start, stop = chunk
    try:
        return frame_histograms(image, range(start, stop), (runtime or process_runtime()).word_counting)
    except NotAnImage as error:
        return str(error)


def assemble(
    volume: VolumeImages, images, histograms, stacks: list[Stack], points: list[dict], warnings: list[str]
) -> VolumeHistogram:
    """Put the slices' histograms in stack order, time point after time point, on one axis of distinct
    modality values (so that normalising uses the range of every time point)."""
    slices = [ref for stack in stacks for ref in stack.slices]
    frames = [images[ref.image].frames[ref.frame] for ref in slices]
    stored = [histograms[ref.image][ref.frame] for ref in slices]
    rescales = sorted({(f.rescale_slope, f.rescale_intercept) for f in frames})
    per_rescale = {}
    for rescale in rescales:
        members = [h.values for h, f in zip(stored, frames) if (f.rescale_slope, f.rescale_intercept) == rescale]
        distinct = distinct_values(members)
        per_rescale[rescale] = (distinct, modality_values(distinct, *rescale))
    values = np.unique(np.concatenate([modalities for _, modalities in per_rescale.values()]))
    index_of = {
        rescale: np.searchsorted(values, modalities).astype(np.int32)
        for rescale, (_, modalities) in per_rescale.items()
    }
    # All slices' entries at once: one lookup per rescale rather than one per slice.
    lengths = [len(h.values) for h in stored]
    entry_values = np.concatenate([h.values for h in stored])
    value_index = np.empty(len(entry_values), dtype=np.int32)
    entry_rescale = None
    if len(rescales) > 1:
        number_of = {rescale: number for number, rescale in enumerate(rescales)}
        entry_rescale = np.repeat([number_of[(f.rescale_slope, f.rescale_intercept)] for f in frames], lengths)
    for number, rescale in enumerate(rescales):
        entries = slice(None) if entry_rescale is None else entry_rescale == number
        distinct = per_rescale[rescale][0]
        found = lookup(distinct, index_of[rescale], entry_values[entries])
        if found is None:
            found = index_of[rescale][np.searchsorted(distinct, entry_values[entries])]
        value_index[entries] = found
    starts = np.zeros(len(slices) + 1, dtype=np.int64)
    starts[1:] = np.cumsum(lengths)

    middle_number = len(stacks[0].slices) // 2
    middle = slices[middle_number]
    # Through the middle slice's own histogram: its entries already know their index into `values`.
    middle_entries = slice(starts[middle_number], starts[middle_number + 1])
    preview_index = preview_value_index(
        images[middle.image], middle.frame, stored[middle_number].values, value_index[middle_entries], values
    )

    first = volume.first
    widths = [stack.slab_widths_mm for stack in stacks]
    reason = next((stack.volume_unavailable_reason for stack in stacks if stack.volume_unavailable_reason), None)
    return VolumeHistogram(
        series_instance_uid=first.series_instance_uid,
        modality=first.modality,
        description=volume.description,
        rows=first.rows,
        columns=first.columns,
        pixel_spacing_mm=stacks[0].pixel_spacing_mm,
        volume_unavailable_reason=reason,
        warnings=tuple(warnings),
        monochrome1=any(image.pixels.monochrome1 for image in images),
        values=values,
        frame_starts=starts,
        frame_value_index=value_index,
        frame_counts=np.concatenate([h.counts for h in stored]).astype(np.int64),
        preview_value_index=preview_index,
        slab_widths_mm=np.concatenate([np.array(w, dtype=np.float64) for w in widths]) if all(widths) else None,
        volume_label=volume.volume_label,
        time_point_starts=np.cumsum([0, *(len(stack.slices) for stack in stacks)]).astype(np.int64),
        time_points=tuple(points),
    )


def preview_value_index(
    image: DicomImage, position: int, frame_values: np.ndarray, frame_indices: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """The frame at `position` of `image` (rows, columns) as indices into the volume's `values`, given
    its own histogram's stored values (`frame_values`) and their indices (`frame_indices`)."""
    try:
        words, as_stored = frame_words(image, position)
    except NotAnImage as error:
        raise MeasurementError(f"the middle slice cannot be read again: {error}") from None
    found = word_value_indices(words, image.pixels, as_stored, frame_values, frame_indices)
    if found is None:
        stored = stored_values(words, image.pixels, as_stored)
        found = lookup(frame_values, frame_indices, stored)
        if found is None:
            frame = image.frames[position]
            found = np.searchsorted(values, modality_values(stored, frame.rescale_slope, frame.rescale_intercept)).astype(np.int32)
    return found.reshape(image.rows, image.columns)


def lookup(keys: np.ndarray, results: np.ndarray, wanted: np.ndarray) -> np.ndarray | None:
    """results[k] where keys[k] == w, for each w of `wanted` (any shape), as int32.

    `keys` are ascending integers spanning fewer than TABLE_MAX_SPAN: they are found through a
    table, faster than a binary search for each of the hundreds of thousands of entries of a large
    series (README, "Figures behind the code"). None when they are not, or when a wanted value is not among them.
    """
    if keys.dtype.kind not in "iu" or wanted.dtype.kind not in "iu" or wanted.size == 0:
        return None
    low, high = int(keys[0]), int(keys[-1])
    if high - low >= TABLE_MAX_SPAN or int(wanted.min()) < low or int(wanted.max()) > high:
        return None
    table = np.full(high - low + 1, -1, dtype=np.int32)
    table[keys - low] = results
    found = table[wanted - low]
    return None if (found < 0).any() else found


def distinct_values(arrays: list[np.ndarray]) -> np.ndarray:
    """The sorted union of sorted arrays of stored values."""
    if arrays[0].dtype.kind == "i":
        low = min(int(a[0]) for a in arrays)
        high = max(int(a[-1]) for a in arrays)
        if high - low < 1 << 24:
            present = np.zeros(high - low + 1, dtype=bool)
            present[np.concatenate(arrays) - low] = True
            return np.flatnonzero(present).astype(np.int64) + low
    return np.unique(np.concatenate(arrays))


def modality_values(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Stored values × Rescale Slope + Rescale Intercept, in float64, as pydicom's apply_rescale."""
    return stored.astype(np.float64) * slope + intercept
