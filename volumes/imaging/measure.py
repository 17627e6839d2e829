"""Histograms, thresholds and the volume.

A voxel's normalised value depends only on its modality value, so one histogram of modality values
per slice carries all a measurement needs: the minimum and maximum over the series, the voxels above
any threshold in any mode, automatic thresholds and statistics. The pixels are read once, slice by
slice, into a `VolumeHistogram`; every measurement, the first and each re-measurement, is arithmetic
on it. Comparisons are made on the exact float64 modality values with the formula of the simple
definition, so the counts are those of normalising every voxel, bit for bit.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .geometry import MAX_LISTED, Stack, VolumeImages, build_stack
from .images import DicomImage, NotAnImage, StoredHistogram
from .pixels import frame_histograms, frame_stored_values
from .pools import parallel_map
from .runtime import ReadingRuntime, process_runtime

NORMALIZED = "normalized"
MODALITY = "modality"
AUTOMATIC_MODES = ("otsu", "triangle", "isodata", "yen")
MODES = (NORMALIZED, MODALITY, *AUTOMATIC_MODES)

HISTOGRAM_BINS = 256
"""Bins over [min, max] of the series on which the automatic thresholds are computed."""

PARALLEL_MIN_FRAMES = 24
"""Below this many frames, decoding in one process beats starting others."""

FRAMES_PER_TASK = 8
"""Frames a decoding process takes at a time: fewer round trips, still an even spread."""

TABLE_MAX_SPAN = 1 << 17
"""Integer stored values spanning fewer than this are located through a lookup table (at most 1 MB)."""


class MeasurementError(Exception):
    """A volume that cannot be measured at all; the message says why."""


class InvalidThreshold(ValueError):
    """A threshold request that makes no sense; the message says what to send instead.

    `field` names what was wrong: "threshold" or "upper"."""

    def __init__(self, message: str, field: str = "threshold"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ThresholdRequest:
    """What the user asked for: a mode and, for the two manual modes, a value.

    `upper` (same units as `value`, manual modes only) makes it a range: value < v ≤ upper.
    `body_only` counts only the voxels inside the body (see body.py); the caller passes the body's
    histogram to measure_histogram, which only reports it.
    """

    mode: str = NORMALIZED
    value: float | None = None
    upper: float | None = None
    body_only: bool = False

    @classmethod
    def parse(cls, mode: str | None, value, default: float, upper=None, body_only: bool = False) -> ThresholdRequest:
        """Validate user input: mode name, value as text or number; `default` for a missing value.

        `upper`, when given (text or number), is the range's upper bound in the same units."""
        request = cls.parse_lower(mode, value, default)
        if upper is None or (isinstance(upper, str) and not upper.strip()):
            return replace(request, body_only=bool(body_only))
        if request.mode in AUTOMATIC_MODES:
            raise InvalidThreshold(
                "an upper bound needs a threshold you type (normalised or modality), not an automatic mode", "upper"
            )
        bound = parse_number(upper, "upper bound", "upper")
        if request.mode == NORMALIZED and not 0 <= bound <= 1:
            raise InvalidThreshold(f"a normalised upper bound lies between 0 and 1, not {bound:g}", "upper")
        if bound <= request.value:
            raise InvalidThreshold(
                f"the upper bound ({bound:g}) must be above the lower threshold ({request.value:g})", "upper"
            )
        return replace(request, upper=bound, body_only=bool(body_only))

    @classmethod
    def parse_lower(cls, mode: str | None, value, default: float) -> ThresholdRequest:
        mode = (mode or NORMALIZED).strip().lower()
        if mode == "normalised":
            mode = NORMALIZED
        if mode not in MODES:
            raise InvalidThreshold(f"unknown threshold mode {mode!r}: use one of {', '.join(MODES)}")
        if mode in AUTOMATIC_MODES:
            return cls(mode=mode)
        if value is None or (isinstance(value, str) and not value.strip()):
            if mode == MODALITY:
                raise InvalidThreshold("the modality mode needs a threshold in modality units (e.g. 300 for bone in HU)")
            return cls(mode=mode, value=float(default))
        number = parse_number(value, "threshold")
        if mode == NORMALIZED and not 0 <= number <= 1:
            raise InvalidThreshold(f"a normalised threshold lies between 0 and 1, not {number:g}")
        return cls(mode=mode, value=number)


def parse_number(value, name: str, field: str = "threshold") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidThreshold(f"the {name} {value!r} is not a number", field) from None
    if not math.isfinite(number):
        raise InvalidThreshold(f"the {name} {value!r} is not a finite number", field)
    return number


@dataclass(frozen=True)
class SeriesMeasurement:
    """One volume measured at one threshold: every figure the page, the API and the command report."""

    series_instance_uid: str
    modality: str
    description: str
    slices: int
    rows: int
    columns: int
    pixel_spacing_mm: tuple[float, float] | None
    slab_mm: dict | None
    mode: str
    threshold: float | None
    threshold_modality: float
    voxels_above: int
    total_voxels: int
    volume_mm3: float | None
    warnings: tuple[str, ...]
    volume_unavailable_reason: str | None
    stats: dict | None
    volume_label: str = ""
    time_points: tuple[dict, ...] = ()
    """With several time points, each one's `index`, `slices`, `voxels_above`, `volume_mm3`, `volume_ml`
    (and `trigger_time_ms`, `frame_reference_time_ms`, `acquisition_number`, `temporal_position` where the
    headers give them), in
    acquisition order; the figures above are those of the first."""
    threshold_upper: float | None = None
    threshold_upper_modality: float | None = None
    body_only: bool = False

    @property
    def volume_ml(self) -> float | None:
        return None if self.volume_mm3 is None else self.volume_mm3 / 1000.0

    def as_dict(self) -> dict:
        """As plain JSON values: a number that is not finite (never valid JSON) becomes null."""
        return finite_json({
            "series_instance_uid": self.series_instance_uid,
            "volume_label": self.volume_label,
            "modality": self.modality,
            "description": self.description,
            "slices": self.slices,
            "rows": self.rows,
            "columns": self.columns,
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "slab_mm": self.slab_mm,
            "mode": self.mode,
            "threshold": self.threshold,
            "threshold_modality": self.threshold_modality,
            "voxels_above": self.voxels_above,
            "total_voxels": self.total_voxels,
            "volume_mm3": self.volume_mm3,
            "volume_ml": self.volume_ml,
            "warnings": list(self.warnings),
            "volume_unavailable_reason": self.volume_unavailable_reason,
            "stats": self.stats,
            "time_points": [dict(point) for point in self.time_points] if len(self.time_points) > 1 else None,
            "threshold_upper": self.threshold_upper,
            "threshold_upper_modality": self.threshold_upper_modality,
            "body_only": self.body_only,
        })


def finite_json(value):
    """`value` with every float that is infinite or NaN replaced by None, in nested dicts and lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


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


# --- reading the pixels once --------------------------------------------------------------------


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
    middle_frame = images[middle.image].frames[middle.frame]
    try:
        preview_stored = frame_stored_values(images[middle.image], middle.frame)
    except NotAnImage as error:
        raise MeasurementError(f"the middle slice cannot be read again: {error}") from None
    # Through the middle slice's own histogram: its entries already know their index into `values`.
    middle_entries = slice(starts[middle_number], starts[middle_number + 1])
    preview_index = lookup(stored[middle_number].values, value_index[middle_entries], preview_stored)
    if preview_index is None:
        preview_modality = modality_values(preview_stored, middle_frame.rescale_slope, middle_frame.rescale_intercept)
        preview_index = np.searchsorted(values, preview_modality).astype(np.int32)

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


def lookup(keys: np.ndarray, results: np.ndarray, wanted: np.ndarray) -> np.ndarray | None:
    """results[k] where keys[k] == w, for each w of `wanted` (any shape), as int32.

    `keys` are ascending integers spanning fewer than TABLE_MAX_SPAN: they are found through a
    table, ten times faster than a binary search for each of the hundreds of thousands of entries
    of a large series. None when they are not, or when a wanted value is not among them.
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


# --- measuring at a threshold -------------------------------------------------------------------


def measure_histogram(histogram: VolumeHistogram, request: ThresholdRequest) -> tuple[SeriesMeasurement, np.ndarray]:
    """The volume above a threshold, and the (K,) mask of the distinct values that lie above it."""
    values = histogram.values
    counts = histogram.value_counts
    low, high = float(values[0]), float(values[-1])
    span = high - low
    warnings = list(histogram.warnings)
    if span == 0:
        warnings.append(f"every voxel has the same value ({low:g}): nothing can lie above a normalised threshold")

    if request.mode == NORMALIZED:
        threshold = float(request.value)
        above = (values - low) / span > threshold if span > 0 else np.zeros(len(values), dtype=bool)
        threshold_modality = low + threshold * span
    else:
        if request.mode == MODALITY:
            threshold_modality = float(request.value)
        else:
            threshold_modality = automatic_threshold(request.mode, values, counts)
        above = values > threshold_modality
        threshold = (threshold_modality - low) / span if span > 0 else None
    upper, upper_modality = None, None
    if request.upper is not None:
        upper, upper_modality, at_most = upper_bound(request, values, low, span)
        above &= at_most

    if request.mode == MODALITY and span > 0:
        warnings.extend(out_of_range_warnings(threshold_modality, low, high, histogram.modality))

    weighted = histogram.frame_counts * above[histogram.frame_value_index]
    running = np.concatenate([[0], np.cumsum(weighted)])
    per_slice = running[histogram.frame_starts[1:]] - running[histogram.frame_starts[:-1]]
    points = time_point_figures(histogram, per_slice)
    first = points[0]
    starts = histogram.time_point_starts
    first_entries = slice(histogram.frame_starts[starts[0]], histogram.frame_starts[starts[1]])
    first_counts = value_counts_of(histogram, first_entries)
    widths = histogram.slab_widths_mm
    reason = histogram.volume_unavailable_reason
    if reason is None and widths is not None and histogram.pixel_spacing_mm is not None and first["volume_mm3"] is None:
        reason = "the volume overflows: the spacings are out of any physical range"
    result = SeriesMeasurement(
        series_instance_uid=histogram.series_instance_uid,
        modality=histogram.modality,
        description=histogram.description,
        slices=histogram.slices,
        rows=histogram.rows,
        columns=histogram.columns,
        pixel_spacing_mm=histogram.pixel_spacing_mm,
        slab_mm=slab_summary(None if widths is None else widths[starts[0] : starts[1]]),
        mode=request.mode,
        threshold=threshold,
        threshold_modality=threshold_modality,
        voxels_above=first["voxels_above"],
        total_voxels=int(first_counts.sum()),
        volume_mm3=first["volume_mm3"],
        warnings=tuple(warnings),
        volume_unavailable_reason=reason,
        stats=value_statistics(values[above], first_counts[above]),
        volume_label=histogram.volume_label,
        time_points=tuple(points),
        threshold_upper=upper,
        threshold_upper_modality=upper_modality,
        body_only=request.body_only,
    )
    return result, above


def time_point_figures(histogram: VolumeHistogram, per_slice: np.ndarray) -> list[dict]:
    """Per time point: what the headers say of it, its slices, voxels above and volume (None when the
    depth or spacing is unknown)."""
    widths = histogram.slab_widths_mm
    starts = histogram.time_point_starts
    measurable = histogram.volume_unavailable_reason is None and widths is not None and histogram.pixel_spacing_mm is not None
    figures = []
    for number, point in enumerate(histogram.time_points):
        chosen = slice(int(starts[number]), int(starts[number + 1]))
        volume_mm3 = None
        if measurable:
            row_mm, column_mm = histogram.pixel_spacing_mm
            volume_mm3 = float(np.dot(per_slice[chosen].astype(np.float64), widths[chosen])) * row_mm * column_mm
            if not math.isfinite(volume_mm3):
                volume_mm3 = None  # spacings out of any physical range: measure_histogram says why
        figures.append(
            {
                **point,
                "slices": chosen.stop - chosen.start,
                "voxels_above": int(per_slice[chosen].sum()),
                "volume_mm3": volume_mm3,
                "volume_ml": None if volume_mm3 is None else volume_mm3 / 1000.0,
            }
        )
    return figures


def value_counts_of(histogram: VolumeHistogram, entries: slice) -> np.ndarray:
    """(K,) voxels holding each distinct value among the given entries (one time point's slices)."""
    if entries.start == 0 and entries.stop == len(histogram.frame_counts):
        return histogram.value_counts
    counts = np.bincount(
        histogram.frame_value_index[entries], weights=histogram.frame_counts[entries], minlength=len(histogram.values)
    )
    return np.rint(counts).astype(np.int64)


def out_of_range_warnings(threshold_modality: float, low: float, high: float, modality: str) -> list[str]:
    """Say so when a threshold in modality units lies outside the series' values: nothing, or everything, counts."""
    unit = " HU" if modality == "CT" else ""
    if threshold_modality >= high:
        return [
            f"the threshold {threshold_modality:g}{unit} is at or above the series' highest value ({high:g}{unit}): "
            "no voxel can lie above it"
        ]
    if threshold_modality < low:
        return [
            f"the threshold {threshold_modality:g}{unit} is below the series' lowest value ({low:g}{unit}): "
            "every voxel lies above it"
        ]
    return []


def upper_bound(request: ThresholdRequest, values: np.ndarray, low: float, span: float):
    """The range's upper bound in both units, and the (K,) mask of the values at or below it."""
    if request.mode == NORMALIZED:
        upper = float(request.upper)
        at_most = (values - low) / span <= upper if span > 0 else np.ones(len(values), dtype=bool)
        return upper, low + upper * span, at_most
    upper_modality = float(request.upper)
    return ((upper_modality - low) / span if span > 0 else None), upper_modality, values <= upper_modality


def slab_summary(widths: np.ndarray | None) -> dict | None:
    if widths is None:
        return None
    return {"min": float(widths.min()), "max": float(widths.max()), "mean": float(widths.mean())}


def value_statistics(values: np.ndarray, counts: np.ndarray) -> dict | None:
    """Mean, population standard deviation, minimum, maximum and median of the voxels above."""
    total = int(counts.sum())
    if total == 0:
        return None
    weights = counts.astype(np.float64)
    mean = float(np.dot(values, weights) / total)
    std = math.sqrt(float(np.dot(weights, (values - mean) ** 2) / total))
    running = np.cumsum(counts)

    def nth(position: int) -> float:
        return float(values[np.searchsorted(running, position, side="right")])

    median = (nth((total - 1) // 2) + nth(total // 2)) / 2
    return {"mean": mean, "std": std, "min": float(values[0]), "max": float(values[-1]), "median": median}


# --- automatic thresholds (the algorithms of scikit-image, BSD-3, on a 256-bin histogram) ----------


def automatic_threshold(mode: str, values: np.ndarray, counts: np.ndarray) -> float:
    """The threshold in modality units that `mode` chooses on the series histogram."""
    low, high = float(values[0]), float(values[-1])
    if low == high:
        return low
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    hist, _ = np.histogram(values, bins=edges, weights=counts.astype(np.float64))
    centers = (edges[:-1] + edges[1:]) / 2
    method = {"otsu": otsu, "triangle": triangle, "isodata": isodata, "yen": yen}[mode]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(method(hist, centers))


def otsu(hist: np.ndarray, centers: np.ndarray) -> float:
    weight_below = np.cumsum(hist)
    weight_above = np.cumsum(hist[::-1])[::-1]
    mean_below = np.cumsum(hist * centers) / weight_below
    mean_above = (np.cumsum((hist * centers)[::-1]) / weight_above[::-1])[::-1]
    between = weight_below[:-1] * weight_above[1:] * (mean_below[:-1] - mean_above[1:]) ** 2
    return centers[int(np.nanargmax(between))]


def isodata(hist: np.ndarray, centers: np.ndarray) -> float:
    """Ridler–Calvard: the first threshold midway between the means below and above it."""
    below = np.cumsum(hist)
    above = below[-1] - below
    intensity = np.cumsum(hist * centers)
    mean_below = intensity[:-1] / below[:-1]
    mean_above = (intensity[-1] - intensity[:-1]) / above[:-1]
    midpoints = (mean_below + mean_above) / 2
    width = centers[1] - centers[0]
    distances = midpoints - centers[:-1]
    found = centers[:-1][(distances >= 0) & (distances < width)]
    return found[0] if found.size else otsu(hist, centers)


def triangle(hist: np.ndarray, centers: np.ndarray) -> float:
    bins = len(hist)
    peak = int(np.argmax(hist))
    nonzero = np.flatnonzero(hist)
    low, high = int(nonzero[0]), int(nonzero[-1])
    flip = peak - low < high - peak
    if flip:
        hist = hist[::-1]
        low = bins - high - 1
        peak = bins - peak - 1
    width = peak - low
    if width == 0:
        return centers[peak if not flip else bins - peak - 1]
    height = hist[peak]
    x = np.arange(width)
    y = hist[x + low]
    norm = math.hypot(height, width)
    distance = (height / norm) * x - (width / norm) * y
    level = int(np.argmax(distance)) + low
    if flip:
        level = bins - level - 1
    return centers[level]


def yen(hist: np.ndarray, centers: np.ndarray) -> float:
    pmf = hist / hist.sum()
    cumulative = np.cumsum(pmf)
    squares_below = np.cumsum(pmf**2)
    squares_above = np.cumsum(pmf[::-1] ** 2)[::-1]
    criterion = np.log(
        ((squares_below[:-1] * squares_above[1:]) ** -1) * (cumulative[:-1] * (1.0 - cumulative[:-1])) ** 2
    )
    criterion[~np.isfinite(criterion)] = -np.inf
    return centers[int(np.argmax(criterion))]

