"""Pictures: the middle slice, windowed, with the voxels above the threshold overlaid in colour."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .histograms import VolumeHistogram

WINDOW_PERCENTILES = (0.5, 99.5)
"""The grey ramp spans these percentiles of the whole series, so one outlier cannot flatten it."""

OVERLAY_RGB = np.array([255.0, 64.0, 0.0])
OVERLAY_OPACITY = 0.55
PREVIEW_MAX_PIXELS = 512
PNG_COMPRESS_LEVEL = 1
"""zlib level of the preview: much faster to write than the default 6, for files a little larger."""
GREY_LEVELS = 128
"""The picture is drawn with a palette: this many greys, then the same greys tinted orange for the
voxels above the threshold. A palette PNG has a third of the bytes of an RGB one to compress, so it
is written faster, and 128 greys are more than a thumbnail shows."""


def preview_png(
    histogram: VolumeHistogram, above: np.ndarray, inside: np.ndarray | None = None, max_pixels: int = PREVIEW_MAX_PIXELS
) -> bytes:
    """PNG of the middle slice with the voxels above the threshold in orange.

    `above` is the (K,) mask over the histogram's distinct values that measure_histogram returns;
    `inside`, (rows, columns) bool, the middle slice's voxels that may count (body only), else all.
    The picture keeps the physical aspect ratio when the pixel spacing is known.
    """
    levels = Image.fromarray(value_levels(histogram)[histogram.preview_value_index])
    counted = above[histogram.preview_value_index]
    if inside is not None:
        counted = counted & inside
    overlay = Image.fromarray(counted.astype(np.uint8) * GREY_LEVELS)
    size = display_size(histogram, max_pixels)
    if size != levels.size:
        upscaling = size[0] > histogram.columns
        levels = levels.resize(size, Image.Resampling.NEAREST if upscaling else Image.Resampling.BILINEAR)
        overlay = overlay.resize(size, Image.Resampling.NEAREST)
    picture = Image.fromarray(np.asarray(levels) + np.asarray(overlay))
    picture.putpalette(PALETTE)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def value_levels(histogram: VolumeHistogram) -> np.ndarray:
    """(K,) uint8: the grey level (0 to GREY_LEVELS − 1) of each distinct value, on the window ramp.

    A pixel's grey depends only on its value, so the slice is drawn by indexing this table.
    """
    low, high = window(histogram.values, histogram.value_counts)
    if high > low:
        ramp = np.clip((histogram.values - low) / (high - low), 0.0, 1.0)
    else:
        ramp = np.full(histogram.values.shape, 0.5)
    if histogram.monochrome1:
        ramp = 1.0 - ramp
    return np.rint(ramp * (GREY_LEVELS - 1)).astype(np.uint8)


def palette() -> list[int]:
    """RGB of each palette entry: GREY_LEVELS greys, then the same tinted with OVERLAY_RGB."""
    grey = np.linspace(0.0, 255.0, GREY_LEVELS)
    greys = np.repeat(grey[:, None], 3, axis=1)
    tinted = (1 - OVERLAY_OPACITY) * greys + OVERLAY_OPACITY * OVERLAY_RGB
    return np.rint(np.concatenate([greys, tinted])).astype(np.uint8).ravel().tolist()


PALETTE = palette()


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


# --- the viewer's slices: the grey picture once per window, the masks apart ----------------------

MASK_COUNTED = 1
"""Palette index of a counted voxel in a mask PNG (0 is transparent)."""
MASK_LEFT_OUT = 2
"""Palette index of a voxel above the threshold that 'body only' leaves out."""
MASK_PALETTE = [0, 0, 0, 255, 112, 0, 40, 150, 255]
MASK_TRANSPARENCY = bytes([0, 255, 255])


def grey_slice_png(modality: np.ndarray, center: float, width: float, monochrome1: bool = False) -> bytes:
    """8-bit grey PNG of a (rows, columns) slice of modality values, windowed linearly.

    center − width/2 is black and center + width/2 white (MONOCHROME1 inverted, as the scanner shows it).
    """
    if not width > 0:
        raise ValueError(f"a window width must be positive, not {width:g}")
    ramp = np.clip((modality - (center - width / 2)) / width, 0.0, 1.0)
    if monochrome1:
        ramp = 1.0 - ramp
    return png_bytes(Image.fromarray(np.rint(ramp * 255).astype(np.uint8), mode="L"))


def mask_png(counted: np.ndarray, left_out: np.ndarray | None = None, outline: bool = False) -> bytes:
    """Palette PNG, transparent but for the counted voxels (orange) and those left out (blue).

    With `outline`, only the edge of each region is drawn (see edge_of), so that the tissue inside
    stays visible.
    """
    if outline:
        counted = edge_of(counted)
        left_out = None if left_out is None else edge_of(left_out)
    indices = counted.astype(np.uint8) * MASK_COUNTED
    if left_out is not None:
        indices[left_out & ~counted] = MASK_LEFT_OUT
    picture = Image.fromarray(indices, mode="P")
    picture.putpalette(MASK_PALETTE)
    picture.info["transparency"] = MASK_TRANSPARENCY
    return png_bytes(picture, transparency=MASK_TRANSPARENCY)


OUTLINE_PIXELS = 2
"""How thick the outline is drawn: one pixel fades to nothing when a 512² slice is shown smaller."""


def edge_of(region: np.ndarray) -> np.ndarray:
    """The voxels of a (rows, columns) bool region within OUTLINE_PIXELS 4-neighbour steps of its
    outside (or of the image's edge)."""
    interior = region
    for _ in range(OUTLINE_PIXELS):
        padded = np.pad(interior, 1, constant_values=False)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & interior
    return region & ~interior


def png_bytes(picture: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL, **options)
    return buffer.getvalue()


def value_histogram(histogram: VolumeHistogram, bins: int = 128) -> dict:
    """The series' voxel counts in `bins` equal bins over [min, max] of its modality values."""
    values, counts = histogram.values, histogram.value_counts
    low, high = float(values[0]), float(values[-1])
    if high == low:
        return {"min": low, "max": high, "counts": [int(counts.sum())]}
    edges = np.linspace(low, high, bins + 1)
    binned, _ = np.histogram(values, bins=edges, weights=counts.astype(np.float64))
    return {"min": low, "max": high, "counts": [int(c) for c in binned]}
