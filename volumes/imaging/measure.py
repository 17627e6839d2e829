"""Histograms, thresholds and the volume.

A voxel's normalised value depends only on its modality value, so one histogram of modality values
per slice carries all a measurement needs: the minimum and maximum over the series, the voxels above
any threshold in any mode, automatic thresholds and statistics. The pixels are read once, slice by
slice, into a `VolumeHistogram`; every measurement, the first and each re-measurement, is arithmetic
on it. Comparisons are made on the exact float64 modality values with the formula of the simple
definition, so the counts are those of normalising every voxel, bit for bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .histograms import VolumeHistogram
from .thresholds import (
    MODALITY,
    NORMALIZED,
    ThresholdRequest,
    automatic_threshold,
    out_of_range_warnings,
    upper_bound,
)


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
