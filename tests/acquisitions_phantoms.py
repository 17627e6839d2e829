"""Synthetic MR series that hold several volumes at the same positions, whose counts are known exactly:
echoes, magnitude and phase, time series, diffusion, ASL, enhanced files with dimensions, mosaics.

Every volume is 4 slices of 8 × 6 voxels, 2.5 mm apart, background 0, with one box of value 100 whose
size says which volume it is (`box(n)`: n rows × 2 columns × 2 slices = 4n voxels above any modality
threshold in [0, 100)). File names are random and Instance Numbers shared between volumes, so nothing
but the header values under test tells the volumes apart. No Django here.
"""
from __future__ import annotations

import math
import struct
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage

from .phantoms import AXIAL, Box, Phantom, SeriesSpec, base_dataset, ds_text, save, set_pixels, uid_for, write_series

SLICES, ROWS, COLUMNS = 4, 8, 6
GAP_MM = 2.5
PIXEL_MM = (0.5, 0.75)
VOXEL_MM3 = PIXEL_MM[0] * PIXEL_MM[1] * GAP_MM


def box_phantom(n: int, slices: int = SLICES) -> Phantom:
    """Background 0 and a box of 100: n rows (1..ROWS-1) × 2 columns × 2 slices, so 4n voxels above 0."""
    if not 1 <= n < ROWS:
        raise ValueError(f"a box of {n} rows does not fit in {ROWS}")
    return Phantom(slices=slices, rows=ROWS, columns=COLUMNS, background=0.0, boxes=(Box((1, 3), (0, n), (1, 3), 100.0),))


def voxels(n: int) -> int:
    return 4 * n


def volume_mm3(n: int) -> float:
    return voxels(n) * VOXEL_MM3


def random_names(rng: np.random.Generator, count: int) -> tuple[str, ...]:
    return tuple(f"{rng.integers(1 << 62):016x}.dcm" for _ in range(count))


def mr_spec(n: int, *, series_uid: str, prefix: str, rng: np.random.Generator, **extra) -> SeriesSpec:
    """One volume of an MR series: the shared Instance Numbers 1..SLICES, random file names."""
    return SeriesSpec(
        phantom=box_phantom(n),
        modality="MR",
        pixel_spacing=PIXEL_MM,
        gap_mm=GAP_MM,
        slice_thickness=GAP_MM,
        write_rescale=False,
        signed=False,
        series_uid=series_uid,
        prefix=prefix,
        instance_numbers=tuple(range(1, SLICES + 1)),
        names=random_names(rng, SLICES),
        series_description="acquisitions",
        extra=extra,
    )


def write_volumes(folder: Path, volumes: list[tuple[int, dict]], seed: int = 0) -> str:
    """Write one series holding the given volumes, each (box size, header values); its Series UID."""
    rng = np.random.default_rng(seed)
    series_uid = uid_for("acquisitions", folder.name, seed)
    for number, (n, extra) in enumerate(volumes):
        write_series(folder, mr_spec(n, series_uid=series_uid, prefix=f"v{number}-", rng=rng, **extra))
    return series_uid


# --- enhanced MR ----------------------------------------------------------------------------------

ENHANCED_ECHO_TIME = (
    ("InStackPositionNumber", "FrameContentSequence"),
    ("TemporalPositionIndex", "FrameContentSequence"),
    ("EffectiveEchoTime", "MREchoSequence"),
)
"""Dimensions of an enhanced file indexed by slice, time and echo."""


def write_enhanced_mr(
    path: Path,
    volumes: list[tuple[int, dict]],
    *,
    dimensions: tuple[tuple[str, str], ...],
    seed: int = 0,
    duplicate_last: bool = False,
) -> Path:
    """One enhanced MR file holding the given volumes, its frames in shuffled order.

    `volumes` are (box size, frame values): the frame values are functional-group values,
    "echo_time", "b_value", "gradient", "asl", "frame_type" with "complex" (Frame Type and Complex Image
    Component), "cardiac_ms" and "index" (the volume's
    dimension index values but for the spatial one, which is each slice's number). `dimensions`
    are the file's (Dimension Index Pointer keyword, Functional Group Pointer keyword), the spatial
    one (InStackPositionNumber) first. With `duplicate_last`, the last frame is written twice.
    """
    rng = np.random.default_rng(seed)
    spec = mr_spec(volumes[0][0], series_uid=uid_for("enhanced", path.name), prefix="e", rng=rng)
    ds = base_dataset(spec, EnhancedMRImageStorage, uid_for("study", 0), spec.series_uid, (path.name,))
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    index_items = []
    for pointer, group in dimensions:
        item = Dataset()
        item.DimensionIndexPointer = Tag(pointer)
        item.FunctionalGroupPointer = Tag(group)
        index_items.append(item)
    ds.DimensionIndexSequence = Sequence(index_items)
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [ds_text(v) for v in PIXEL_MM]
    measures.SliceThickness = ds_text(GAP_MM)
    shared.PixelMeasuresSequence = Sequence([measures])
    plane = Dataset()
    plane.ImageOrientationPatient = [ds_text(v) for v in AXIAL]
    shared.PlaneOrientationSequence = Sequence([plane])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for n, values in volumes:
        pixels = box_phantom(n).modality()
        for k in range(SLICES):
            frames.append((enhanced_frame_group(spec, k, values), pixels[k]))
    if duplicate_last:
        frames.append(frames[-1])
    order = rng.permutation(len(frames))
    ds.PerFrameFunctionalGroupsSequence = Sequence([frames[i][0] for i in order])
    stored = np.stack([frames[i][1] for i in order]).astype(np.int64)
    set_pixels(ds, spec, stored, rows=ROWS, columns=COLUMNS)
    save(ds, path, ExplicitVRLittleEndian)
    return path


def enhanced_frame_group(spec: SeriesSpec, slice_index: int, values: dict) -> Dataset:
    group = Dataset()
    content = Dataset()
    content.InStackPositionNumber = slice_index + 1
    content.DimensionIndexValues = [slice_index + 1, *values.get("index", ())]
    group.FrameContentSequence = Sequence([content])
    position = Dataset()
    position.ImagePositionPatient = [ds_text(v) for v in spec.positions()[slice_index]]
    group.PlanePositionSequence = Sequence([position])
    if "echo_time" in values:
        echo = Dataset()
        echo.EffectiveEchoTime = values["echo_time"]
        group.MREchoSequence = Sequence([echo])
    if "b_value" in values:
        diffusion = Dataset()
        diffusion.DiffusionBValue = values["b_value"]
        diffusion.DiffusionDirectionality = "DIRECTIONAL" if "gradient" in values else "NONE"
        if "gradient" in values:
            direction = Dataset()
            direction.DiffusionGradientOrientation = list(values["gradient"])
            diffusion.DiffusionGradientDirectionSequence = Sequence([direction])
        group.MRDiffusionSequence = Sequence([diffusion])
    if "asl" in values:
        asl = Dataset()
        asl.ASLContext = values["asl"]
        group.MRArterialSpinLabelingSequence = Sequence([asl])
    if "frame_type" in values:
        frame_type = Dataset()
        frame_type.FrameType = list(values["frame_type"])
        frame_type.ComplexImageComponent = values["complex"]
        group.MRImageFrameTypeSequence = Sequence([frame_type])
    if "cardiac_ms" in values:
        cardiac = Dataset()
        cardiac.NominalCardiacTriggerDelayTime = values["cardiac_ms"]
        group.CardiacSynchronizationSequence = Sequence([cardiac])
    return group


# --- Siemens mosaic -------------------------------------------------------------------------------


def csa2_header(tags: dict[str, tuple[str, list[str]]]) -> bytes:
    """A Siemens CSA2 header ("SV10") holding `tags` (name → (VR, values as text)), as nibabel reads it."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<2I", len(tags), 77)
    for name, (vr, values) in tags.items():
        out += struct.pack("<64si4s3i", name.encode(), len(values), vr.encode(), 0, len(values), 77)
        for value in values:
            data = value.encode() + b"\0"
            out += struct.pack("<4i", len(data), len(data), 77, len(data))
            out += data + b"\0" * (-len(data) % 4)
    return bytes(out)


def write_mosaic(
    path: Path,
    n: int,
    *,
    tiles: int = SLICES,
    spacing_mm: float | None = 3.6,
    thickness_mm: float = 3.0,
    series_uid: str = "",
    acquisition_number: int = 1,
    first_position_mm: tuple[float, float, float] = (-30.0, -40.0, 100.0),
    csa_tags: dict | None = None,
) -> Path:
    """A Siemens mosaic of `tiles` axial slices (box_phantom(n)), `spacing_mm` apart centre to centre,
    `thickness_mm` thick: ImageType MOSAIC, (0019,100A), and a CSA image header with SliceNormalVector
    (and `csa_tags`: name → (VR, values as text), e.g. B_value and DiffusionGradientDirection).
    Image Position (Patient) is written as Siemens writes it: that of the whole tiled image."""
    phantom = box_phantom(n, slices=tiles)
    values = phantom.modality()
    per_row = math.ceil(math.sqrt(tiles))
    mosaic = np.zeros((per_row * ROWS, per_row * COLUMNS), dtype=np.int64)
    for k in range(tiles):
        top, left = divmod(k, per_row)
        mosaic[top * ROWS : (top + 1) * ROWS, left * COLUMNS : (left + 1) * COLUMNS] = values[k]
    spec = replace(
        mr_spec(n, series_uid=series_uid or uid_for("mosaic", path.parent.name), prefix="m", rng=np.random.default_rng(0)),
        instance_numbers=None,
    )
    ds = base_dataset(spec, MRImageStorage, uid_for("study", 0), spec.series_uid, (path.name, acquisition_number))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"]
    ds.InstanceNumber = acquisition_number
    ds.AcquisitionNumber = acquisition_number
    ds.PixelSpacing = [ds_text(v) for v in PIXEL_MM]
    ds.SliceThickness = ds_text(thickness_mm)
    if spacing_mm is not None:
        ds.SpacingBetweenSlices = ds_text(spacing_mm)
    ds.ImageOrientationPatient = [ds_text(v) for v in AXIAL]
    row_direction, column_direction = np.array(AXIAL[:3]), np.array(AXIAL[3:])
    # Siemens' position is that of the tiled image: nibabel moves it by half the difference in size.
    shift = column_direction * PIXEL_MM[0] * (mosaic.shape[0] - ROWS) / 2 + row_direction * PIXEL_MM[1] * (mosaic.shape[1] - COLUMNS) / 2
    ds.ImagePositionPatient = [ds_text(v) for v in np.array(first_position_mm) - shift]
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100A, "US", tiles)
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    csa = csa2_header(
        {
            "NumberOfImagesInMosaic": ("US", [str(tiles)]),
            "SliceNormalVector": ("FD", ["0.0", "0.0", "1.0"]),
            "AcquisitionMatrixText": ("SH", [f"{ROWS}*{COLUMNS}"]),
            **(csa_tags or {}),
        }
    )
    ds.add_new(0x00291010, "OB", csa)
    set_pixels(ds, spec, mosaic[None], rows=mosaic.shape[0], columns=mosaic.shape[1])
    save(ds, path, ExplicitVRLittleEndian)
    return path
