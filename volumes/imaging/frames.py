"""The frames of a file: position, orientation, spacing and rescale of each 2D image."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pydicom

from .acquisition_header import dimension_pointers, read_acquisition, read_frame_acquisition
from .geometry import MAX_SPACING_MM, normal_of
from .images import Frame
from .values import first_item, optional_float, read_floats


def read_frames(ds: pydicom.Dataset, count: int) -> tuple[tuple[Frame, ...], tuple[str, ...]]:
    """The frames of a file, from the plain header, the functional groups or RT Dose's offsets."""
    if "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds:
        return read_enhanced_frames(ds, count), ()
    spacing, spacing_problem = read_pixel_spacing(ds)
    orientation = read_floats(ds, "ImageOrientationPatient", 6)[0]
    position = read_floats(ds, "ImagePositionPatient", 3)[0]
    slope, intercept = read_rescale(ds)
    base = Frame(
        index=0,
        position_mm=position,
        orientation=orientation,
        pixel_spacing_mm=spacing,
        pixel_spacing_problem=spacing_problem,
        slice_thickness_mm=optional_float(ds, "SliceThickness"),
        spacing_between_slices_mm=optional_float(ds, "SpacingBetweenSlices"),
        rescale_slope=slope,
        rescale_intercept=intercept,
        acquisition=read_acquisition(ds),
    )
    if count == 1:
        return (base,), ()
    offsets, note = classic_frame_offsets(ds, count, base)
    frames = []
    for index in range(count):
        frame_position = None
        if offsets is not None:
            origin = np.array(position or (0.0, 0.0, 0.0))
            frame_position = tuple(float(v) for v in origin + offsets[index] * normal_of(orientation))
        frames.append(replace(base, index=index, position_mm=frame_position))
    return tuple(frames), ((note,) if note else ())


def classic_frame_offsets(ds: pydicom.Dataset, count: int, base: Frame) -> tuple[np.ndarray | None, str | None]:
    """Offsets (mm, along the slice normal) of the frames of a multi-frame file without functional groups."""
    grid = read_floats(ds, "GridFrameOffsetVector")[0]
    if grid is not None:
        if len(grid) != count:
            return None, f"Grid Frame Offset Vector has {len(grid)} values for {count} frames"
        # Relative offsets start at 0; absolute ones are z coordinates. Either way, the first frame
        # lies at Image Position (Patient).
        return np.array(grid, dtype=np.float64) - grid[0], None
    spacing = base.spacing_between_slices_mm
    if spacing is not None and spacing > 0 and math.isfinite(spacing):
        return np.arange(count, dtype=np.float64) * spacing, (
            f"the frames carry no positions of their own: taken as consecutive slices "
            f"{spacing:g} mm apart (Spacing Between Slices)"
        )
    return None, "a multi-frame image whose frames carry no positions and no Spacing Between Slices"


def read_enhanced_frames(ds: pydicom.Dataset, count: int) -> tuple[Frame, ...]:
    """Frames of an enhanced multi-frame image (CT, MR, PET...): shared and per-frame functional groups."""
    shared = first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    pointers = dimension_pointers(ds)
    frames = []
    for index in range(count):
        groups = [g for g in (per_frame[index] if index < len(per_frame) else None, shared) if g is not None]
        measures = functional_group(groups, "PixelMeasuresSequence")
        position = functional_group(groups, "PlanePositionSequence")
        orientation = functional_group(groups, "PlaneOrientationSequence")
        transform = functional_group(groups, "PixelValueTransformationSequence")
        spacing, problem = read_pixel_spacing(measures) if measures is not None else (None, "Pixel Spacing is missing")
        slope, intercept = read_rescale(transform if transform is not None else ds)
        frames.append(
            Frame(
                index=index,
                position_mm=read_floats(position, "ImagePositionPatient", 3)[0] if position is not None else None,
                orientation=read_floats(orientation, "ImageOrientationPatient", 6)[0] if orientation is not None else None,
                pixel_spacing_mm=spacing,
                pixel_spacing_problem=problem,
                slice_thickness_mm=optional_float(measures, "SliceThickness") if measures is not None else None,
                spacing_between_slices_mm=optional_float(measures, "SpacingBetweenSlices") if measures is not None else None,
                rescale_slope=slope,
                rescale_intercept=intercept,
                acquisition=read_frame_acquisition(ds, groups, pointers),
            )
        )
    return tuple(frames)


def functional_group(groups: list[pydicom.Dataset], sequence: str) -> pydicom.Dataset | None:
    """The first item of `sequence` in the frame's own groups, else in the shared ones."""
    for group in groups:
        found = first_item(group, sequence)
        if found is not None:
            return found
    return None


def read_pixel_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, ...] | None, str | None]:
    """Pixel Spacing, or None and what is wrong with it (missing, not two positive numbers)."""
    if "PixelSpacing" not in ds:
        if "ImagerPixelSpacing" in ds:
            return None, (
                "only Imager Pixel Spacing (0018,1164) is given: it is the spacing at the detector, "
                "not in the patient, so it cannot size a volume"
            )
        return None, "Pixel Spacing (0028,0030) is missing"
    values, raw = read_floats(ds, "PixelSpacing", 2)
    if not raw:
        return None, "Pixel Spacing (0028,0030) is empty"
    if values is None:
        return None, f"Pixel Spacing (0028,0030) is {raw!r}, not two numbers"
    if not all(math.isfinite(v) and v > 0 for v in values):
        return None, f"Pixel Spacing (0028,0030) is {raw}: a spacing must be a positive number"
    if max(values) > MAX_SPACING_MM:
        return None, f"Pixel Spacing (0028,0030) is {raw} mm: beyond {MAX_SPACING_MM:g} mm, out of any physical range"
    return values, None


def read_rescale(ds: pydicom.Dataset) -> tuple[float, float]:
    """Rescale Slope and Intercept (RT Dose: Dose Grid Scaling); 1 and 0 when absent."""
    slope = optional_float(ds, "RescaleSlope")
    intercept = optional_float(ds, "RescaleIntercept")
    if slope is None and "DoseGridScaling" in ds:
        slope = optional_float(ds, "DoseGridScaling")
    if slope is None or not math.isfinite(slope) or slope == 0:
        slope = 1.0
    if intercept is None or not math.isfinite(intercept):
        intercept = 0.0
    return slope, intercept
