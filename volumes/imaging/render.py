"""Pictures: the middle slice, windowed, with the voxels above the threshold overlaid in colour."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .measure import VolumeHistogram

WINDOW_PERCENTILES = (0.5, 99.5)
"""The grey ramp spans these percentiles of the whole series, so one outlier cannot flatten it."""

OVERLAY_RGB = np.array([255.0, 64.0, 0.0])
OVERLAY_OPACITY = 0.55
PREVIEW_MAX_PIXELS = 512
PNG_COMPRESS_LEVEL = 1
"""zlib level of the preview: 4× faster to write than the default 6, for files about 15% larger."""


def preview_png(histogram: VolumeHistogram, above: np.ndarray, max_pixels: int = PREVIEW_MAX_PIXELS) -> bytes:
    """PNG of the middle slice with the voxels above the threshold in orange.

    `above` is the (K,) mask over the histogram's distinct values that measure_histogram returns.
    The picture keeps the physical aspect ratio when the pixel spacing is known.
    """
    colours = value_colours(histogram, above)
    picture = Image.fromarray(colours[histogram.preview_value_index], mode="RGB")
    size = display_size(histogram, max_pixels)
    upscaling = size[0] > histogram.columns
    resample = Image.Resampling.NEAREST if upscaling else Image.Resampling.BILINEAR
    picture = picture.resize(size, resample)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def value_colours(histogram: VolumeHistogram, above: np.ndarray) -> np.ndarray:
    """(K, 3) uint8: the colour of each distinct value, grey on the window ramp, orange-tinted above.

    A pixel's colour depends only on its value, so the slice is coloured by indexing this table.
    """
    low, high = window(histogram.values, histogram.value_counts)
    modality = histogram.values
    if high > low:
        grey = np.clip((modality - low) / (high - low), 0.0, 1.0) * 255.0
    else:
        grey = np.full(modality.shape, 128.0)
    if histogram.monochrome1:
        grey = 255.0 - grey
    rgb = np.repeat(grey[:, None], 3, axis=1)
    rgb[above] = (1 - OVERLAY_OPACITY) * rgb[above] + OVERLAY_OPACITY * OVERLAY_RGB
    return np.rint(rgb).astype(np.uint8)


def window(values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Low and high ends of the grey ramp: the WINDOW_PERCENTILES of the series' values."""
    running = np.cumsum(counts)
    total = running[-1]
    low_at, high_at = (total * p / 100.0 for p in WINDOW_PERCENTILES)
    low = float(values[min(np.searchsorted(running, low_at, side="left"), len(values) - 1)])
    high = float(values[min(np.searchsorted(running, high_at, side="left"), len(values) - 1)])
    if high <= low:
        return float(values[0]), float(values[-1])
    return low, high


def display_size(histogram: VolumeHistogram, max_pixels: int) -> tuple[int, int]:
    """(width, height) that fits in max_pixels and shows pixels at their physical aspect ratio."""
    width_mm, height_mm = float(histogram.columns), float(histogram.rows)
    if histogram.pixel_spacing_mm is not None:
        row_mm, column_mm = histogram.pixel_spacing_mm
        width_mm *= column_mm
        height_mm *= row_mm
    scale = max_pixels / max(width_mm, height_mm)
    return max(1, round(width_mm * scale)), max(1, round(height_mm * scale))
