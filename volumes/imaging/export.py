"""The voxels a measurement counted, taken to other tools: DICOM SEG (highdicom) and NIfTI (nibabel).

The mask is rebuilt from the stored files' pixels in stack order (the order along the slice normal
the measurement used) and looked up in the measurement's own `above` table of distinct modality
values, so it holds exactly the voxels that were counted. No Django here.

Geometry. DICOM's patient coordinates are LPS (x to the patient's left, y to the posterior); NIfTI's
are RAS, so the affine's first two rows are negated. With a tilted gantry the slices are shifted
sideways from one to the next: the step from slice to slice is not perpendicular to the image
plane. The NIfTI sform keeps that shear (each voxel centre lies exactly at its DICOM position); the
qform cannot hold a shear and holds the image planes stacked along their normal at the
perpendicular gap, the geometry the volume was measured with. DICOM SEG needs neither: each frame
carries the position of its source slice.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import gzip
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from .geometry import build_stack, normal_of
from .grouping import VolumeImages
from .histograms import TABLE_MAX_SPAN, VolumeHistogram, modality_values
from .images import DicomImage, NotAnImage
from .measure import SeriesMeasurement
from .pixels import frame_stored_values

if TYPE_CHECKING:
    from .body import Body

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
"""Flips x and y: DICOM's left-posterior-superior axes to NIfTI's right-anterior-superior."""

SEG_MANUFACTURER = "DICOM volumetry"
SEG_SOFTWARE_VERSION = "1"


class ExportError(Exception):
    """The mask cannot be written in the format asked for; the message says why."""


@dataclass(frozen=True)
class StackMask:
    """The counted voxels of a volume, slice by slice in stack order, with where each slice lies.

    mask            (slices, rows, columns) bool
    positions_mm    (slices, 3) float64, Image Position (Patient) of each slice, LPS
    orientation     the six direction cosines (row direction, then column direction)
    pixel_spacing_mm  (row spacing, column spacing)
    slab_widths_mm  (slices,) the width each slice stands for (the perpendicular gaps)
    """

    mask: np.ndarray
    images: tuple[DicomImage, ...]
    frame_indices: tuple[int, ...]
    positions_mm: np.ndarray
    orientation: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]
    slab_widths_mm: np.ndarray

    @property
    def voxels(self) -> int:
        return int(self.mask.sum())


def stack_mask(volume: VolumeImages, histogram: VolumeHistogram, above: np.ndarray, body: Body | None = None) -> StackMask:
    """Read the volume's pixels again, slice by slice, into the mask of the values `above` marks.

    `histogram` and `above` are the measurement's (`measure_histogram`): `above[k]` says whether the
    distinct modality value `histogram.values[k]` was counted. With several time points, the first
    (whose figures the measurement heads with). With a `body` ('body only'), only the voxels inside it.
    """
    stack = build_stack(volume.images, volume.time_point_list()[0].frames)
    if len(stack.slices) != histogram.slices:
        raise ExportError(
            f"the stored files form {len(stack.slices)} slices but the measurement has {histogram.slices}"
        )
    frames = [volume.images[ref.image].frames[ref.frame] for ref in stack.slices]
    if any(f.position_mm is None or f.orientation is None for f in frames):
        raise ExportError("the images do not say where they lie (no Image Position or Orientation (Patient))")
    if stack.pixel_spacing_mm is None or histogram.slab_widths_mm is None:
        raise ExportError(f"the geometry is unknown: {histogram.volume_unavailable_reason or 'no pixel spacing'}")
    mask = np.empty((len(frames), histogram.rows, histogram.columns), dtype=bool)
    for number, (ref, frame) in enumerate(zip(stack.slices, frames)):
        try:
            stored = frame_stored_values(volume.images[ref.image], ref.frame)
        except NotAnImage as error:
            raise ExportError(f"{volume.images[ref.image].name} cannot be read again: {error}") from None
        counted = counted_table(stored, frame.rescale_slope, frame.rescale_intercept, histogram.values, above)
        if counted is None:
            raise ExportError(f"{volume.images[ref.image].name} holds values the measurement never saw")
        if body is not None:
            counted &= body.mask(modality_values(stored, frame.rescale_slope, frame.rescale_intercept), number)
        mask[number] = counted
    return StackMask(
        mask=mask,
        images=tuple(volume.images[ref.image] for ref in stack.slices),
        frame_indices=tuple(ref.frame for ref in stack.slices),
        positions_mm=np.array([f.position_mm for f in frames], dtype=np.float64),
        orientation=tuple(frames[0].orientation),
        pixel_spacing_mm=tuple(stack.pixel_spacing_mm),
        slab_widths_mm=np.asarray(histogram.slab_widths_mm, dtype=np.float64),
    )


def counted_table(stored: np.ndarray, slope: float, intercept: float, values: np.ndarray, above: np.ndarray) -> np.ndarray | None:
    """(rows, columns) bool: whether each stored value's modality value is one `above` marks.

    Integer stored values go through a table over their span (one search per distinct value, not per
    pixel); None when a value is not among `values`.
    """
    if stored.dtype.kind in "iu" and int(stored.max()) - int(stored.min()) < TABLE_MAX_SPAN:
        low = int(stored.min())
        offsets = (stored - low).astype(np.intp, copy=False)
        present = np.bincount(offsets.ravel()) > 0
        distinct = np.flatnonzero(present) + low
        table = np.zeros(len(present), dtype=bool)
        found = value_indices(modality_values(distinct, slope, intercept), values)
        if found is None:
            return None
        table[present] = above[found]
        return table[offsets]
    found = value_indices(modality_values(stored, slope, intercept), values)
    return None if found is None else above[found]


def value_indices(wanted: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """Where each of `wanted` lies in the ascending `values`; None when one is missing."""
    index = np.minimum(np.searchsorted(values, wanted), len(values) - 1)
    return index if np.array_equal(values[index], wanted) else None


# --- NIfTI ------------------------------------------------------------------------------------------


def affine_lps(stack: StackMask, *, sheared: bool = True) -> np.ndarray:
    """(4, 4) voxel (column i, row j, slice k) → LPS mm, the first voxel's centre at the first position.

    `sheared`: the slice step is the mean step between the slice positions (tilted gantry: not
    perpendicular to the plane); otherwise the normal times the mean slab width.
    """
    row_direction = np.array(stack.orientation[:3])
    column_direction = np.array(stack.orientation[3:])
    row_spacing, column_spacing = stack.pixel_spacing_mm
    slices = len(stack.positions_mm)
    if sheared and slices > 1:
        step = (stack.positions_mm[-1] - stack.positions_mm[0]) / (slices - 1)
    else:
        step = normal_of(stack.orientation) * float(stack.slab_widths_mm.mean())
    affine = np.eye(4)
    affine[:3, 0] = row_direction * column_spacing  # along a row: from one column to the next
    affine[:3, 1] = column_direction * row_spacing  # down a column: from one row to the next
    affine[:3, 2] = step
    affine[:3, 3] = stack.positions_mm[0]
    return affine


def nifti_bytes(stack: StackMask) -> bytes:
    """The mask as a gzipped NIfTI-1 file: uint8 (column, row, slice), 1 where counted.

    The (slice, row, column) mask in C order is already NIfTI's byte order (column fastest): it is
    handed over as a view, not copied, and written through gzip in pieces.
    """
    import nibabel  # imported when used: every `manage.py measure` and worker would pay its import

    data = stack.mask.view(np.uint8).transpose(2, 1, 0)
    image = nibabel.Nifti1Image(data, LPS_TO_RAS @ affine_lps(stack))
    image.set_sform(LPS_TO_RAS @ affine_lps(stack), code="scanner")
    image.set_qform(LPS_TO_RAS @ affine_lps(stack, sheared=False), code="scanner")
    image.header.set_xyzt_units(xyz="mm")
    image.header["descrip"] = b"voxels counted by the measurement"
    buffer = io.BytesIO()
    # Level 1: a mask of runs of 0 and 1 compresses nearly as well as at 6, in less time.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as stream:
        image.to_stream(stream)
    return buffer.getvalue()


# --- DICOM SEG --------------------------------------------------------------------------------------


def seg_dataset(stack: StackMask, *, label: str, description: str, series_number: int = 9901) -> pydicom.Dataset:
    """The mask as a binary DICOM Segmentation referencing every source image it lies on.

    Single-frame sources are given in stack order with their slices; a multi-frame source (one file)
    has its frames given back in the file's order. Several multi-frame files cannot form one SEG.
    """
    import highdicom  # imported when used: every `manage.py measure` and worker would pay its import
    from pydicom.sr.codedict import codes

    paths = list(dict.fromkeys(image.path for image in stack.images))
    if len(paths) == len(stack.images):
        frames = stack.mask
    elif len(paths) == 1:
        frames = np.zeros((len(stack.images[0].frames), *stack.mask.shape[1:]), dtype=bool)
        frames[list(stack.frame_indices)] = stack.mask
    else:
        raise ExportError("a DICOM SEG can reference one multi-frame image, not several")
    sources = [pydicom.dcmread(path, stop_before_pixels=True, force=True) for path in paths]
    segment = highdicom.seg.SegmentDescription(
        segment_number=1,
        segment_label=label[:64],
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=highdicom.AlgorithmIdentificationSequence(
            name="threshold", family=codes.DCM.ThresholdRelated, version=SEG_SOFTWARE_VERSION
        ),
    )
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="highdicom")  # its advice on the sources' person names
            return highdicom.seg.Segmentation(
                source_images=sources,
                pixel_array=frames,
                segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
                segment_descriptions=[segment],
                series_instance_uid=highdicom.UID(),
                series_number=series_number,
                sop_instance_uid=highdicom.UID(),
                instance_number=1,
                manufacturer=SEG_MANUFACTURER,
                manufacturer_model_name=SEG_MANUFACTURER,
                software_versions=SEG_SOFTWARE_VERSION,
                device_serial_number="0",
                series_description=description[:64],
                omit_empty_frames=False,
            )
    except (ValueError, TypeError, AttributeError, KeyError) as error:  # highdicom's checks of the sources
        raise ExportError(f"the source images cannot be referenced by a DICOM SEG: {error}") from None


def seg_bytes(stack: StackMask, *, label: str, description: str) -> bytes:
    buffer = io.BytesIO()
    seg_dataset(stack, label=label, description=description).save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- files for the command line -----------------------------------------------------------------------


@dataclass(frozen=True)
class MaskFiles:
    """Where to write masks; with several volumes each file is numbered (seg-1.dcm, mask-2.nii.gz)."""

    seg: Path | None = None
    nifti: Path | None = None

    def numbered(self, number: int | None) -> MaskFiles:
        if number is None:
            return self
        return MaskFiles(
            seg=numbered_path(self.seg, number) if self.seg else None,
            nifti=numbered_path(self.nifti, number) if self.nifti else None,
        )


def numbered_path(path: Path, number: int) -> Path:
    """mask.nii.gz → mask-2.nii.gz; seg.dcm → seg-2.dcm; seg → seg-2."""
    name = path.name
    for suffix in (".nii.gz", *path.suffixes[-1:]):
        if name.endswith(suffix):
            return path.with_name(f"{name[: -len(suffix)]}-{number}{suffix}")
    return path.with_name(f"{name}-{number}")


def mask_label(threshold_modality: float, mode: str) -> str:
    """What the mask holds, for the SEG's segment label: 'voxels > 300.0 (modality)'."""
    return f"voxels > {threshold_modality:.1f} ({mode})"


def write_mask_files(stack: StackMask, files: MaskFiles, result: SeriesMeasurement) -> list[Path]:
    """Write the mask where `files` says; the paths written."""
    written = []
    if files.seg:
        files.seg.write_bytes(seg_bytes(stack, label=mask_label(result.threshold_modality, result.mode), description=f"Mask: {result.description}"))
        written.append(files.seg)
    if files.nifti:
        files.nifti.write_bytes(nifti_bytes(stack))
        written.append(files.nifti)
    return written
