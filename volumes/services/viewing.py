"""Seeing what was counted: the slices in stack order, windowed, the masks, the body, the live threshold.

Slice pictures are rendered from the stored files and kept in the `slices` cache (Django's cache
framework; a file cache unless the settings say otherwise): the grey picture once per (series,
slice, window), each mask once per (series, slice, threshold). Keys carry a stamp of the series'
files, so that slices added to a series never show stale pictures.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from django.conf import settings
from django.core.cache import caches
from django.core.files.base import ContentFile
from django.db.models import Count, Max

from ..imaging.body import Body, measure_body
from ..imaging.histograms import MeasurementError, VolumeHistogram
from ..imaging.images import NotAnImage
from ..imaging.measure import SeriesMeasurement, measure_histogram
from ..imaging.reader import read_images
from ..imaging.render import grey_slice_png, mask_png, value_histogram
from ..imaging.grouping import VolumeImages
from ..imaging.slices import SliceStack, slice_modality, time_point_stacks
from ..imaging.thresholds import ThresholdRequest
from ..models import Measurement, Series
from .media import instances_kept_on_disk
from .scanning import series_volume

logger = logging.getLogger(__name__)
T = TypeVar("T")

CACHE_ALIAS = "slices"
CACHE_SECONDS = 7 * 24 * 3600

CT_PRESETS = (
    ("brain", "Brain", 40.0, 80.0),
    ("soft-tissue", "Soft tissue", 40.0, 400.0),
    ("lung", "Lung", -600.0, 1500.0),
    ("bone", "Bone", 400.0, 1800.0),
)
"""Window presets (center, width in HU) offered on CT series, as radiology viewers name them."""


class SliceNotFound(LookupError):
    """A slice number outside the series."""


@dataclass(frozen=True)
class Window:
    center: float
    width: float


def slice_cache():
    return caches[CACHE_ALIAS if CACHE_ALIAS in settings.CACHES else "default"]


def cached(key: str, compute: Callable[[], T]) -> T:
    """The cached value of `key`, else `compute()` stored under it.

    An entry that cannot be read back (written by an older version of the code, whose classes have
    moved since) counts as missing and is replaced.
    """
    cache = slice_cache()
    try:
        value = cache.get(key)
    except Exception:  # unpickling raises whatever the stale entry's classes raise
        logger.warning("slice cache entry %s unreadable; rebuilt", key)
        value = None
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def series_stamp(series: Series) -> str:
    """Changes whenever the series' files do (slices added), so cached pictures never go stale."""
    files = series.instances.aggregate(count=Count("id"), last=Max("id"))
    return f"{series.pk}-{files['count']}-{files['last']}"


def series_time_point_slices(*, series: Series) -> tuple[int, ...]:
    """How many slices each time point has (one entry for a volume without time points), in the order
    its stored histograms hold them. The first call reads the headers once and caches each time
    point's stack under a key of its own, so that a picture unpickles only its own time point's."""
    stamp = series_stamp(series)

    def stack_every_time_point() -> tuple[int, ...]:
        stacks = time_point_stacks(series_stored_volume(series))
        for number, stack in enumerate(stacks):
            slice_cache().set(f"stack:{stamp}:{number}", stack, CACHE_SECONDS)
        return tuple(stack.count for stack in stacks)

    return cached(f"time-points:{stamp}", stack_every_time_point)


def series_slices(*, series: Series, time_point: int = 0) -> SliceStack:
    """The slices of time point `time_point` (0-based; the first, whose figures the measurement heads
    with, by default) in the order its measurement stacks them; SliceNotFound for a time point the
    series does not have."""
    counts = series_time_point_slices(series=series)
    if not 0 <= time_point < len(counts):
        raise SliceNotFound(f"This series has time points 1 to {len(counts)}, not {time_point + 1}.")
    return cached(
        f"stack:{series_stamp(series)}:{time_point}",
        lambda: time_point_stacks(series_stored_volume(series))[time_point],  # evicted since the first call
    )


def series_stored_volume(series: Series) -> VolumeImages:
    """The series' volume read from its stored files (the headers).

    The volume keeps the files' paths for later slices: the storage's own (on the file system); a
    storage without paths (S3) has its files copied to a folder kept as long as this process.
    """
    sources = instances_kept_on_disk(series.instances.all())
    # One process: web requests call this, and forking a threaded server is unsafe.
    images = read_images(sources, processes=1).images
    if not images:
        raise MeasurementError("none of the series' stored files can be read")
    return series_volume(series=series, images=images)


def read_slice(stack: SliceStack, number: int) -> np.ndarray:
    """Slice `number` (0-based) in modality units; SliceNotFound outside the series, MeasurementError
    when its stored file cannot be read (any more)."""
    if not 0 <= number < stack.count:
        raise SliceNotFound(f"This series has slices 1 to {stack.count}, not {number + 1}.")
    try:
        return slice_modality(stack, number)
    except (NotAnImage, OSError) as error:
        raise MeasurementError(f"slice {number + 1} cannot be read: {error}") from None


def series_slice_png(*, series: Series, number: int, window: Window, time_point: int = 0) -> bytes:
    """Slice `number` (0-based) of time point `time_point` as a grey PNG at `window` (modality units)."""

    def render() -> bytes:
        stack = series_slices(series=series, time_point=time_point)
        modality = read_slice(stack, number)
        return grey_slice_png(modality, window.center, window.width, stack.monochrome1)

    key = f"grey:{series_stamp(series)}:{time_point}:{number}:{window.center:g}:{window.width:g}"
    return cached(key, render)


def series_mask_png(
    *, series: Series, number: int, request: ThresholdRequest, outline: bool = False, time_point: int = 0
) -> bytes:
    """Slice `number`'s counted voxels (and, with body only, those left out) of time point `time_point`
    as a transparent PNG.

    A voxel is counted when its value is among those measure_histogram counts: the picture and the
    figure cannot disagree about a single voxel.
    """

    def render() -> bytes:
        histogram = series_histogram_for(series=series, request=request)
        _, above = measure_histogram(histogram, request)
        stack = series_slices(series=series, time_point=time_point)
        modality = read_slice(stack, number)
        selected = above[np.searchsorted(histogram.values, modality)]
        left_out = None
        if request.body_only:
            # The body holds every time point's slices one after the other, as the histograms do.
            earlier = sum(series_time_point_slices(series=series)[:time_point])
            inside = stored_body(series).mask(modality, earlier + number)
            left_out = selected & ~inside
            selected = selected & inside
        return mask_png(selected, left_out, outline=outline)

    request_key = f"{request.mode}:{request.value!r}:{request.upper!r}:{request.body_only}:{outline}"
    return cached(f"mask:{series_stamp(series)}:{time_point}:{number}:{request_key}", render)


def measurement_live(*, series: Series, request: ThresholdRequest) -> SeriesMeasurement:
    """The figures at another threshold, from the stored histograms, without storing anything."""
    return measure_histogram(series_histogram_for(series=series, request=request), request)[0]


def series_histogram_for(*, series: Series, request: ThresholdRequest) -> VolumeHistogram:
    """The stored histograms a request measures on: the series', or the body's with body only.

    Kept in the cache once loaded: a pickled VolumeHistogram loads in well under a millisecond, its
    .npz in tens (600 slices), and the live threshold loads it at every step.
    """
    if not series.histogram:
        raise MeasurementError("the series has not been measured yet")
    stored = series.histogram
    if request.body_only:
        if not series.body_histogram:
            raise MeasurementError("the body of this series has not been found yet: measure it with 'body only' first")
        stored = series.body_histogram

    def load() -> VolumeHistogram:
        with stored.open("rb") as f:
            return VolumeHistogram.load(f)

    return cached(f"histogram:{series_stamp(series)}:{stored.name}", load)


def stored_body(series: Series) -> Body:
    with series.body.open("rb") as f:
        return Body.load(f)


def series_body_histogram(*, series: Series, histogram: VolumeHistogram) -> VolumeHistogram:
    """The histograms of the voxels inside the body: loaded when stored, else found (two passes over the pixels)."""
    if series.body_histogram and series.body:
        with series.body_histogram.open("rb") as f:
            return VolumeHistogram.load(f)
    body, inside = measure_body(histogram, time_point_stacks(series_stored_volume(series)))
    series.body.save(f"body-{series.pk}.npz", ContentFile(body.to_bytes()), save=False)
    series.body_histogram.save(f"series-{series.pk}-body.npz", ContentFile(inside.to_bytes()), save=False)
    series.save(update_fields=["body", "body_histogram"])
    return inside


def measurement_viewer(*, measurement: Measurement) -> dict:
    """What the viewer needs to start: slices, where they lie, windows, the series' histogram; of a
    time series, each time point's slices and where they lie (the first's also at the top level)."""
    series = measurement.series
    stacks = [series_slices(series=series, time_point=t) for t in range(len(series_time_point_slices(series=series)))]
    stack = stacks[0]
    histogram = series_histogram_for(series=series, request=ThresholdRequest())
    presets = [
        {"key": key, "label": label, "center": center, "width": width}
        for key, label, center, width in (CT_PRESETS if series.modality.upper() == "CT" else ())
    ]
    return {
        "slices": stack.count,
        "rows": stack.shape[0],
        "columns": stack.shape[1],
        "pixel_spacing_mm": measurement.result_dict().get("pixel_spacing_mm"),
        "positions_mm": list(stack.positions_mm) if stack.positions_mm else None,
        "file_window": window_dict(stack.file_window) if stack.file_window else None,
        "default_window": window_dict(default_window(stack, histogram)),
        "presets": presets,
        "histogram": value_histogram(histogram),
        "body_ready": bool(series.body and series.body_histogram),
        "time_points": [
            {"slices": s.count, "positions_mm": list(s.positions_mm) if s.positions_mm else None} for s in stacks
        ] if len(stacks) > 1 else [],
    }


def window_dict(window) -> dict:
    center, width = window
    return {"center": center, "width": width}


def default_window(stack: SliceStack, histogram: VolumeHistogram) -> tuple[float, float]:
    """The file's own window, else the series' range."""
    if stack.file_window:
        return stack.file_window
    low, high = float(histogram.values[0]), float(histogram.values[-1])
    return (low + high) / 2, max(high - low, 1.0)
