"""Images → volumes: a series split into the volumes it holds.

Images of one Series Instance UID that differ in size, orientation or pixel spacing go to parts of
their own; each part is split into its contrasts and their time points (acquisitions.py). The order
along the normal and the slab widths of each volume are geometry.py's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .acquisitions import Contrast, FrameItem, TimePoint, split_contrasts
from .collector import collector_paused
from .geometry import ORIENTATION_TOLERANCE, SPACING_TOLERANCE, all_close, fmt_pair, normal_of
from .images import DicomImage


@dataclass(frozen=True)
class VolumeImages:
    """Images that form one volume: one contrast of one series (or of one part of a series split by
    geometry), each image holding only the frames of that contrast, and its time points (empty: one)."""

    images: tuple[DicomImage, ...]
    part: str
    volume_label: str = ""
    time_points: tuple[TimePoint, ...] = ()

    @property
    def first(self) -> DicomImage:
        return self.images[0]

    @property
    def description(self) -> str:
        return volume_description(self.first.series_description, self.part, self.first.modality, self.volume_label)

    def time_point_list(self) -> tuple[TimePoint, ...]:
        """The time points; a volume without them is one time point of all its frames."""
        if self.time_points:
            return self.time_points
        frames = tuple((i, k) for i, image in enumerate(self.images) for k in range(len(image.frames)))
        return (TimePoint(index=1, frames=frames),)


def volume_description(series_description: str, part: str, modality: str, volume_label: str = "") -> str:
    """How a volume is named: its Series Description, and which part and contrast of the series when split."""
    base = series_description or f"Untitled {modality or 'DICOM'} series"
    which = ", ".join(text for text in (part, volume_label) if text)
    return f"{base} [{which}]" if which else base


@collector_paused()
def split_into_volumes(images: list[DicomImage]) -> list[VolumeImages]:
    """Group images by Series Instance UID, then split where they cannot form one volume.

    Images of one series with another size, orientation or pixel spacing (a localiser among axial
    slices, say) go to a part of their own, named by its orientation and size; each part is split
    into its contrasts and their time points (acquisitions.split_contrasts).
    """
    by_series: dict[str, list[list[DicomImage]]] = {}
    # An image of exactly the geometry of one placed before goes where it went (same_stack would say so).
    placed: dict[tuple, list[DicomImage]] = {}
    for image in images:
        frame = image.frames[0]
        geometry = (image.series_instance_uid, image.rows, image.columns, frame.orientation, frame.pixel_spacing_mm)
        stack = placed.get(geometry)
        if stack is None:
            stacks = by_series.setdefault(image.series_instance_uid, [])
            stack = next((stack for stack in stacks if same_stack(stack[0], image)), None)
            if stack is None:
                stack = []
                stacks.append(stack)
            values = (*(frame.orientation or ()), *(frame.pixel_spacing_mm or ()))
            if not any(v != v for v in values):  # NaN is close to nothing, not even to itself
                placed[geometry] = stack
        stack.append(image)
    volumes = []
    for stacks in by_series.values():
        stacks.sort(key=lambda stack: (-sum(len(i.frames) for i in stack), describe_part(stack), part_spacing(stack)))
        names: list[str] = []
        for stack in stacks:
            part = describe_part(stack) if len(stacks) > 1 else ""
            if part in names:
                part = f"{part}, {fmt_pair(stack[0].frames[0].pixel_spacing_mm)} mm pixels"
            while part in names:
                part = f"{part}, {len(names) + 1}"
            names.append(part)
            for contrast in split_contrasts(frame_items(stack)):
                volumes.append(contrast_volume(stack, part, contrast))
    return volumes


def part_spacing(images: list[DicomImage]) -> tuple:
    spacing = images[0].frames[0].pixel_spacing_mm
    return tuple(spacing) if spacing else ()


def frame_items(images: list[DicomImage]) -> list[FrameItem]:
    """Every frame of a stack's images, with what it is and where it lies along the stack's normal."""
    nx, ny, nz = (float(v) for v in normal_of(images[0].frames[0].orientation))
    items = []
    for i, image in enumerate(images):
        for k, frame in enumerate(image.frames):
            along = None
            if frame.position_mm is not None:
                x, y, z = frame.position_mm
                along = x * nx + y * ny + z * nz
                along = along if math.isfinite(along) else None
            items.append(FrameItem(i, k, frame.acquisition, along, image.instance_number))
    return items


def contrast_volume(images: list[DicomImage], part: str, contrast: Contrast) -> VolumeImages:
    """The volume of one contrast: its images, each holding only that contrast's frames (and their
    histograms), and its time points pointing into them."""
    used: dict[int, list[int]] = {}
    for time_point in contrast.time_points:
        for image, frame in time_point.frames:
            used.setdefault(image, []).append(frame)
    order = sorted(used)
    whole = len(order) == len(images) and all(len(used[i]) == len(images[i].frames) for i in order)
    if whole:  # every frame of every image: nothing to renumber
        return VolumeImages(tuple(images), part, contrast.label, contrast.time_points if len(contrast.time_points) > 1 else ())
    new_index = {}
    kept = []
    for number, image_index in enumerate(order):
        image = images[image_index]
        frames = sorted(set(used[image_index]))
        for position, frame in enumerate(frames):
            new_index[(image_index, frame)] = (number, position)
        if len(frames) == len(image.frames):
            kept.append(image)
            continue
        histograms = None if image.histograms is None else tuple(image.histograms[k] for k in frames)
        kept.append(replace(image, frames=tuple(image.frames[k] for k in frames), histograms=histograms))
    time_points = tuple(
        replace(time_point, frames=tuple(new_index[ref] for ref in time_point.frames)) for time_point in contrast.time_points
    )
    return VolumeImages(
        images=tuple(kept),
        part=part,
        volume_label=contrast.label,
        time_points=time_points if len(time_points) > 1 else (),
    )


def same_stack(a: DicomImage, b: DicomImage) -> bool:
    if (a.rows, a.columns) != (b.rows, b.columns):
        return False
    fa, fb = a.frames[0], b.frames[0]
    if (fa.orientation is None) != (fb.orientation is None):
        return False
    if fa.orientation is not None and not all_close(fa.orientation, fb.orientation, rtol=0, atol=ORIENTATION_TOLERANCE):
        return False
    if (fa.pixel_spacing_mm is None) != (fb.pixel_spacing_mm is None):
        return False
    if fa.pixel_spacing_mm is not None and not all_close(
        fa.pixel_spacing_mm, fb.pixel_spacing_mm, rtol=SPACING_TOLERANCE, atol=0
    ):
        return False
    return True


def describe_part(images: list[DicomImage]) -> str:
    """A part's name, stable across uploads of more or fewer of its images: plane and size."""
    first = images[0]
    return f"{plane_name(first.frames[0].orientation)}, {first.columns}×{first.rows}"


def plane_name(orientation: tuple[float, ...] | None) -> str:
    """axial, coronal or sagittal for a plane within 10° of one, else oblique."""
    if orientation is None:
        return "no orientation"
    normal = np.abs(normal_of(orientation))
    axis = int(np.argmax(normal))
    if normal[axis] < math.cos(math.radians(10)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]
