"""A volume's slices one at a time, in the order the measurement stacks them, for the viewer and the body.

The order is `build_stack`'s (the projection of Image Position (Patient) on the normal), so slice
number k here is the k-th slice of the measurement's histograms.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom

from .geometry import build_stack, normal_of
from .grouping import VolumeImages
from .images import DicomImage
from .pixels import FrameBuffer, frame_stored_values


@dataclass(frozen=True)
class SliceStack:
    """The slices of a volume in stack order: which frame of which image, and where each lies.

    positions_mm   (F,) the projection of each slice's Image Position (Patient) on the normal, or
                   None when a slice has no position
    file_window    (center, width) of the file's own Window Center/Width (the middle slice's), or None
    """

    images: tuple[DicomImage, ...]
    slices: tuple[tuple[int, int], ...]
    positions_mm: tuple[float, ...] | None
    file_window: tuple[float, float] | None
    monochrome1: bool

    @property
    def count(self) -> int:
        return len(self.slices)

    @property
    def shape(self) -> tuple[int, int]:
        first = self.images[0]
        return first.rows, first.columns


def slice_stack(volume: VolumeImages, time_point: int = 0) -> SliceStack:
    """Order the slices of one time point of a volume (0-based; the first by default, whose figures the
    measurement heads with) as the measurement does; read the window of the middle slice's file."""
    images = tuple(volume.images)
    stack = build_stack(images, volume.time_point_list()[time_point].frames)
    frames = [images[ref.image].frames[ref.frame] for ref in stack.slices]
    positions = None
    if all(frame.position_mm is not None for frame in frames):
        normal = normal_of(frames[0].orientation)
        positions = tuple(float(np.dot(frame.position_mm, normal)) for frame in frames)
    middle = stack.slices[len(stack.slices) // 2]
    return SliceStack(
        images=images,
        slices=tuple((ref.image, ref.frame) for ref in stack.slices),
        positions_mm=positions,
        file_window=read_file_window(images[middle.image]),
        monochrome1=any(image.pixels.monochrome1 for image in images),
    )


def time_point_stacks(volume: VolumeImages) -> tuple[SliceStack, ...]:
    """Every time point's slices, in the order the measurement's histograms hold them (one for a
    volume without time points)."""
    return tuple(slice_stack(volume, number) for number in range(len(volume.time_point_list())))


def read_file_window(image: DicomImage) -> tuple[float, float] | None:
    """The first Window Center/Width pair of the file, when both are there and the width is positive."""
    try:
        ds = pydicom.dcmread(image.path, stop_before_pixels=True, force=True,
                             specific_tags=["WindowCenter", "WindowWidth"])
        center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
        if center is None or width is None:
            return None
        center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    except (OSError, ValueError, TypeError, IndexError):
        return None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        return None
    return center, width


def slice_modality(stack: SliceStack, number: int) -> np.ndarray:
    """Slice `number` (0-based, stack order) as (rows, columns) float64 modality values."""
    if not 0 <= number < stack.count:
        raise IndexError(f"slice {number + 1} is outside the {stack.count} slices")
    image_index, position = stack.slices[number]
    image = stack.images[image_index]
    return to_modality(image, position, frame_stored_values(image, position))


def iter_slice_modality(stack: SliceStack) -> Iterator[np.ndarray]:
    """Every slice in stack order as (rows, columns) float64 modality values; one slice in memory at a time."""
    buffer = FrameBuffer()
    for image_index, position in stack.slices:
        image = stack.images[image_index]
        yield to_modality(image, position, frame_stored_values(image, position, buffer))


def to_modality(image: DicomImage, position: int, stored: np.ndarray) -> np.ndarray:
    """The stored values of the frame at `position` of `image.frames` in modality units (float64)."""
    frame = image.frames[position]
    return stored.astype(np.float64) * frame.rescale_slope + frame.rescale_intercept
