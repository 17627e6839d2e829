"""Synthetic DICOM series whose voxels above a threshold are known exactly, written with pydicom.

A `Phantom` is a block of modality values (slices, rows, columns): a background and boxes of other
values. A `SeriesSpec` says how to write it: spacing, slice positions, orientation, gantry tilt,
rescale, bit depth, photometric interpretation, transfer syntax, file names and Instance Numbers
(by default deliberately out of geometric order). Header values are written as given, even when
invalid (a pixel spacing of 0, -1 or 'abc'), so tests can check the reasons the app gives.

The default phantom, 6 slices of 12 × 10, background −1000:
- box A, value 40, slices 1–4, rows 2–8, columns 2–7 (4 × 7 × 6 = 168 voxels),
- box B, value 1000, inside A: slices 2–3, rows 4–5, columns 3–5 (2 × 2 × 3 = 12 voxels),
so 168 voxels lie above a modality threshold in [−1000, 40) (normalised: [0, 0.52)) and 12 above
one in [40, 1000) (normalised: [0.52, 1)).

No Django here: this module only writes files.
"""
from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    EnhancedPETImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    RTDoseStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from .jpeg_encoders import encode_jpeg_lossless, encode_jpeg_ls

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)

NATIVE_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)
LOSSY_SYNTAXES = (JPEGBaseline8Bit, JPEGExtended12Bit)

SOP_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}
ENHANCED_SOP_CLASSES = {"CT": EnhancedCTImageStorage, "MR": EnhancedMRImageStorage, "PT": EnhancedPETImageStorage}


def oblique(degrees: float) -> tuple[float, ...]:
    """An axial plane turned by `degrees` about the patient's x axis (as a tilted gantry does)."""
    angle = math.radians(degrees)
    return (1.0, 0.0, 0.0, 0.0, math.cos(angle), -math.sin(angle))


def normal_of(orientation) -> np.ndarray:
    row, column = np.array(orientation[:3], dtype=float), np.array(orientation[3:], dtype=float)
    return np.cross(row, column)


@dataclass(frozen=True)
class Box:
    """A block of voxels of one modality value: half-open ranges of slice, row and column indices."""

    slices: tuple[int, int]
    rows: tuple[int, int]
    columns: tuple[int, int]
    value: float

    @property
    def voxels(self) -> int:
        return (
            (self.slices[1] - self.slices[0]) * (self.rows[1] - self.rows[0]) * (self.columns[1] - self.columns[0])
        )


DEFAULT_BOXES = (
    Box(slices=(1, 5), rows=(2, 9), columns=(2, 8), value=40.0),
    Box(slices=(2, 4), rows=(4, 6), columns=(3, 6), value=1000.0),
)


@dataclass(frozen=True)
class Phantom:
    """Modality values of a block of voxels: a background, boxes painted in order, optional noise.

    `noise_steps` > 0 adds to every voxel a random multiple (from −noise_steps to +noise_steps) of
    `noise_step`, seeded by `seed`, so that the values are many and the counts are not trivial.
    """

    slices: int = 6
    rows: int = 12
    columns: int = 10
    background: float = -1000.0
    boxes: tuple[Box, ...] = DEFAULT_BOXES
    noise_steps: int = 0
    noise_step: float = 4.0
    seed: int = 0

    def modality(self) -> np.ndarray:
        """(slices, rows, columns) float64 modality values."""
        values = np.full((self.slices, self.rows, self.columns), self.background, dtype=np.float64)
        for box in self.boxes:
            values[slice(*box.slices), slice(*box.rows), slice(*box.columns)] = box.value
        if self.noise_steps:
            rng = np.random.default_rng(self.seed)
            steps = rng.integers(-self.noise_steps, self.noise_steps + 1, size=values.shape)
            values += steps * self.noise_step
        return values


@dataclass(frozen=True)
class SeriesSpec:
    """How a phantom is written as a series of single-frame files.

    offsets_mm      where each slice lies along the normal (with a tilt: along z); default
                    `gap_mm` apart. A repeated value puts two slices at the same position.
    pixel_spacing   (row, column) mm, written as given: None leaves it out; a string is written
                    verbatim (e.g. "abc" or "0\\0.5").
    tilt_deg        a tilted gantry: the planes are turned by this about x while the positions
                    still step along z, so the perpendicular gap is gap × cos(tilt).
    slopes, intercepts   one value for all slices or one per slice.
    bits_stored     below bits_allocated, the unused high bits hold garbage when `garbage_bits`.
    order           "shuffled": file names and Instance Numbers out of geometric order; "sorted".
    """

    phantom: Phantom = Phantom()
    modality: str = "CT"
    pixel_spacing: object = (0.5, 0.75)
    imager_pixel_spacing: object = None
    gap_mm: float = 2.5
    offsets_mm: tuple[float, ...] | None = None
    origin_mm: tuple[float, float, float] = (-30.0, -40.0, 100.0)
    orientation: tuple[float, ...] = AXIAL
    tilt_deg: float = 0.0
    jitter_mm: float = 0.0
    slice_thickness: object = 2.5
    spacing_between_slices: object = None
    slopes: float | tuple[float, ...] = 1.0
    intercepts: float | tuple[float, ...] = 0.0
    write_rescale: bool = True
    signed: bool = True
    bits_allocated: int = 16
    bits_stored: int | None = None
    garbage_bits: bool = False
    photometric: str = "MONOCHROME2"
    transfer_syntax: str = ExplicitVRLittleEndian
    order: str = "shuffled"
    instance_numbers: tuple[int, ...] | None = None
    names: tuple[str, ...] | None = None
    prefix: str = "IM"
    series_uid: str = ""
    series_description: str = "phantom"
    seed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def stored_bits(self) -> int:
        return self.bits_stored or self.bits_allocated

    def offsets(self) -> list[float]:
        if self.offsets_mm is not None:
            if len(self.offsets_mm) != self.phantom.slices:
                raise ValueError(f"{len(self.offsets_mm)} offsets for {self.phantom.slices} slices")
            return [float(v) for v in self.offsets_mm]
        return [k * self.gap_mm for k in range(self.phantom.slices)]

    def positions(self) -> list[tuple[float, float, float]]:
        """Image Position (Patient) of each slice, as the numbers written in the header."""
        origin = np.array(self.origin_mm, dtype=float)
        orientation = self.plane()
        direction = np.array([0.0, 0.0, 1.0]) if self.tilt_deg else normal_of(orientation)
        rng = np.random.default_rng(self.seed + 1)
        positions = []
        for offset in self.offsets():
            position = origin + offset * direction
            if self.jitter_mm:
                position = position + rng.uniform(-self.jitter_mm, self.jitter_mm, size=3)
            positions.append(tuple(float(ds_text(v)) for v in position))
        return positions

    def plane(self) -> tuple[float, ...]:
        orientation = oblique(self.tilt_deg) if self.tilt_deg else self.orientation
        return tuple(float(ds_text(v)) for v in orientation)

    def rescale(self, index: int) -> tuple[float, float]:
        slope = self.slopes[index] if isinstance(self.slopes, tuple) else self.slopes
        intercept = self.intercepts[index] if isinstance(self.intercepts, tuple) else self.intercepts
        return float(slope), float(intercept)

    def stored(self, index: int, values: np.ndarray) -> np.ndarray:
        """The stored values of one slice (int64), checked to give the modality values exactly."""
        slope, intercept = self.rescale(index) if self.write_rescale else (1.0, 0.0)
        stored = np.rint((values - intercept) / slope).astype(np.int64)
        if not np.array_equal(stored.astype(np.float64) * slope + intercept, values):
            raise ValueError(f"slice {index}: slope {slope} and intercept {intercept} do not give the values exactly")
        low, high = stored_range(self.signed, self.stored_bits)
        if stored.min() < low or stored.max() > high:
            raise ValueError(f"slice {index}: stored values {stored.min()}..{stored.max()} outside {low}..{high}")
        return stored

    def permutation(self) -> np.ndarray:
        count = self.phantom.slices
        if self.order == "sorted":
            return np.arange(count)
        return np.random.default_rng(self.seed + 7).permutation(count)


def stored_range(signed: bool, bits: int) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def ds_text(value: float) -> str:
    """A decimal string of at most 16 characters that reads back as the number written."""
    text = f"{value:.10g}"
    return "0" if text == "-0" else text


def uid_for(*parts) -> str:
    return generate_uid(entropy_srcs=[str(part) for part in parts])


# --- writing --------------------------------------------------------------------------------------


def write_series(folder: Path, spec: SeriesSpec = SeriesSpec()) -> list[Path]:
    """Write every slice of `spec` as one file in `folder`; return the paths in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    phantom = spec.phantom
    values = phantom.modality()
    study_uid = uid_for("study", spec.seed)
    series_uid = spec.series_uid or uid_for("series", spec.prefix, spec.seed, spec)
    positions = spec.positions()
    permutation = spec.permutation()
    paths = []
    for index in range(phantom.slices):
        ds = base_dataset(spec, SOP_CLASSES.get(spec.modality, CTImageStorage), study_uid, series_uid, (spec.prefix, index))
        ds.InstanceNumber = (
            spec.instance_numbers[index] if spec.instance_numbers else int(phantom.slices - permutation[index])
        )
        ds.ImagePositionPatient = [ds_text(v) for v in positions[index]]
        ds.ImageOrientationPatient = [ds_text(v) for v in spec.plane()]
        if spec.tilt_deg:
            ds.GantryDetectorTilt = ds_text(spec.tilt_deg)
        set_spacing(ds, spec)
        if spec.slice_thickness is not None:
            ds.SliceThickness = spec.slice_thickness
        if spec.spacing_between_slices is not None:
            ds.SpacingBetweenSlices = spec.spacing_between_slices
        if spec.write_rescale:
            slope, intercept = spec.rescale(index)
            ds.RescaleSlope = ds_text(slope)
            ds.RescaleIntercept = ds_text(intercept)
            ds.RescaleType = "HU" if spec.modality == "CT" else "US"
        stored = spec.stored(index, values[index])
        set_pixels(ds, spec, stored[None], rows=phantom.rows, columns=phantom.columns)
        name = spec.names[index] if spec.names else f"{spec.prefix}{int(permutation[index]):04d}"
        path = folder / name
        save(ds, path, spec.transfer_syntax)
        paths.append(path)
    return paths


def write_time_points(folder: Path, phantoms, **spec) -> Path:
    """One series whose time points (Temporal Position Identifier 1, 2, …) are `phantoms`; return `folder`."""
    for index, phantom in enumerate(phantoms):
        numbers = tuple(index * phantom.slices + k + 1 for k in range(phantom.slices))
        write_series(folder, SeriesSpec(
            phantom=phantom, series_uid=uid_for("time points", *phantoms), prefix=f"T{index + 1}-",
            instance_numbers=numbers, extra={"TemporalPositionIdentifier": index + 1}, **spec,
        ))
    return folder


def base_dataset(spec: SeriesSpec, sop_class: str, study_uid: str, series_uid: str, identity) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid_for("instance", series_uid, *identity)
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "Phantom^Synthetic"
    ds.PatientID = "PHANTOM"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = uid_for("frame", study_uid)
    ds.StudyDate = "20240101"
    ds.Modality = spec.modality
    ds.SeriesDescription = spec.series_description
    ds.SeriesNumber = 1
    for keyword, value in spec.extra.items():
        setattr(ds, keyword, value)
    return ds


def set_spacing(ds: Dataset, spec: SeriesSpec) -> None:
    for keyword, value in (("PixelSpacing", spec.pixel_spacing), ("ImagerPixelSpacing", spec.imager_pixel_spacing)):
        if value is None:
            continue
        if isinstance(value, str):
            # Written verbatim, valid or not: pydicom would refuse to hold "abc" as a DS value.
            ds.add_new(keyword_tag(keyword), "LO" if not is_decimal_list(value) else "DS", value)
        else:
            setattr(ds, keyword, [ds_text(v) for v in value])


def keyword_tag(keyword: str) -> int:
    return pydicom.datadict.tag_for_keyword(keyword)


def is_decimal_list(text: str) -> bool:
    try:
        [float(part) for part in text.split("\\")]
    except ValueError:
        return False
    return True


def set_pixels(ds: Dataset, spec: SeriesSpec, stored: np.ndarray, *, rows: int, columns: int) -> None:
    """Pixel Module and Pixel Data for (frames, rows, columns) stored values, in spec's transfer syntax."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = spec.photometric
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = spec.bits_allocated
    ds.BitsStored = spec.stored_bits
    ds.HighBit = spec.stored_bits - 1
    ds.PixelRepresentation = int(spec.signed)
    if len(stored) > 1:
        ds.NumberOfFrames = len(stored)
    syntax = UID(spec.transfer_syntax)
    ds.file_meta.TransferSyntaxUID = syntax
    mask = (1 << spec.stored_bits) - 1
    words = stored & mask  # two's complement in Bits Stored bits for signed values
    if syntax in NATIVE_SYNTAXES:
        if spec.garbage_bits and spec.stored_bits < spec.bits_allocated:
            rng = np.random.default_rng(spec.seed + 3)
            garbage = rng.integers(0, 1 << (spec.bits_allocated - spec.stored_bits), size=words.shape)
            words = words | (garbage << spec.stored_bits)
        order = ">" if syntax == ExplicitVRBigEndian else "<"
        data = words.astype(f"{order}u{spec.bits_allocated // 8}").tobytes()
        ds.PixelData = data + b"\0" * (len(data) % 2)
        ds["PixelData"].VR = "OB" if spec.bits_allocated == 8 else "OW"
        return
    if syntax in (RLELossless, JPEG2000Lossless):
        dtype = f"{'i' if spec.signed else 'u'}{spec.bits_allocated // 8}"
        array = stored.astype(dtype)
        ds.compress(syntax, array if len(stored) > 1 else array[0], generate_instance_uid=False)
        return
    if syntax in (JPEGLSLossless, JPEGLosslessSV1, JPEGLossless):
        encode = encode_jpeg_ls if syntax == JPEGLSLossless else encode_jpeg_lossless
        frames = [encode(frame, spec.stored_bits) for frame in words]
    elif syntax in LOSSY_SYNTAXES:
        if spec.bits_allocated != 8 or spec.signed:
            raise ValueError("the lossy JPEG phantoms are 8-bit unsigned (Pillow writes those)")
        frames = [encode_pillow_jpeg(frame, extended=syntax == JPEGExtended12Bit) for frame in words]
    else:
        raise ValueError(f"no writer for transfer syntax {syntax}")
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def encode_pillow_jpeg(frame: np.ndarray, *, extended: bool) -> bytes:
    """8-bit baseline JPEG from Pillow; `extended` relabels it SOF1 (extended sequential, 8-bit)."""
    buffer = io.BytesIO()
    Image.fromarray(frame.astype(np.uint8), mode="L").save(buffer, format="JPEG", quality=90)
    stream = bytearray(buffer.getvalue())
    if extended:
        offset = find_marker(stream, 0xC0)
        stream[offset + 1] = 0xC1
    return bytes(stream)


def find_marker(stream: bytes | bytearray, marker: int) -> int:
    """Offset of the first marker segment `marker` (0xFF `marker`) before the scan, walking segments."""
    offset = 2
    while offset < len(stream):
        if stream[offset] != 0xFF:
            raise ValueError("not a marker")
        if stream[offset + 1] == marker:
            return offset
        (length,) = struct.unpack(">H", stream[offset + 2 : offset + 4])
        offset += 2 + length
    raise ValueError(f"no marker FF{marker:02X}")


def save(ds: Dataset, path: Path, transfer_syntax: str) -> None:
    syntax = UID(transfer_syntax)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(
        path,
        implicit_vr=syntax == ImplicitVRLittleEndian,
        little_endian=syntax != ExplicitVRBigEndian,
        enforce_file_format=True,
    )


# --- multi-frame ----------------------------------------------------------------------------------


def write_enhanced(path: Path, spec: SeriesSpec = SeriesSpec(), *, kind: str = "CT", frame_order=None) -> Path:
    """An enhanced multi-frame image: spacing and orientation in the shared functional groups,
    position and rescale (from spec.slopes / intercepts) per frame. `frame_order` lists which slice
    each frame holds (default: spec's shuffled order)."""
    phantom = spec.phantom
    values = phantom.modality()
    order = list(frame_order) if frame_order is not None else [int(k) for k in spec.permutation()]
    ds = base_dataset(spec, ENHANCED_SOP_CLASSES[kind], uid_for("study", spec.seed), uid_for("series", path.name), (path.name,))
    ds.Modality = kind
    ds.InstanceNumber = 1
    shared = Dataset()
    measures = Dataset()
    if spec.pixel_spacing is not None:
        measures.PixelSpacing = [ds_text(v) for v in spec.pixel_spacing]
    if spec.slice_thickness is not None:
        measures.SliceThickness = spec.slice_thickness
    shared.PixelMeasuresSequence = Sequence([measures])
    plane = Dataset()
    plane.ImageOrientationPatient = [ds_text(v) for v in spec.plane()]
    shared.PlaneOrientationSequence = Sequence([plane])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    positions = spec.positions()
    per_frame = []
    for slice_index in order:
        group = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [ds_text(v) for v in positions[slice_index]]
        group.PlanePositionSequence = Sequence([position])
        transform = Dataset()
        slope, intercept = spec.rescale(slice_index)
        transform.RescaleSlope = ds_text(slope)
        transform.RescaleIntercept = ds_text(intercept)
        transform.RescaleType = "HU" if kind == "CT" else "US"
        group.PixelValueTransformationSequence = Sequence([transform])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    stored = np.stack([spec.stored(k, values[k]) for k in order])
    set_pixels(ds, spec, stored, rows=phantom.rows, columns=phantom.columns)
    save(ds, path, spec.transfer_syntax)
    return path


def write_rt_dose(path: Path, spec: SeriesSpec, *, dose_grid_scaling: float, absolute: bool) -> Path:
    """An RT Dose grid: frames `spec.offsets()` apart along the normal, Grid Frame Offset Vector
    relative to the first frame (0, …) or absolute (the z coordinates), values = stored × scaling.

    The phantom's modality values are doses in Gy; `spec` should be unsigned, 16 or 32 bits.
    """
    phantom = spec.phantom
    values = phantom.modality()
    ds = base_dataset(spec, RTDoseStorage, uid_for("study", spec.seed), uid_for("series", path.name), (path.name,))
    ds.Modality = "RTDOSE"
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = ds_text(dose_grid_scaling)
    positions = spec.positions()
    ds.ImagePositionPatient = [ds_text(v) for v in positions[0]]
    ds.ImageOrientationPatient = [ds_text(v) for v in spec.plane()]
    if spec.pixel_spacing is not None:
        ds.PixelSpacing = [ds_text(v) for v in spec.pixel_spacing]
    offsets = spec.offsets()
    base = positions[0][2] if absolute else 0.0
    ds.GridFrameOffsetVector = [ds_text(base + offset) for offset in offsets]
    ds.FrameIncrementPointer = 0x3004000C
    scaled = replace(spec, slopes=dose_grid_scaling, intercepts=0.0)
    stored = np.stack([scaled.stored(k, values[k]) for k in range(phantom.slices)])
    set_pixels(ds, spec, stored, rows=phantom.rows, columns=phantom.columns)
    save(ds, path, spec.transfer_syntax)
    return path


def write_classic_multiframe(path: Path, spec: SeriesSpec) -> Path:
    """A multi-frame image without functional groups: one position and orientation for the file,
    frames in order along the normal, Spacing Between Slices as in spec (None: absent)."""
    phantom = spec.phantom
    values = phantom.modality()
    ds = base_dataset(spec, SecondaryCaptureImageStorage, uid_for("study", spec.seed), uid_for("series", path.name), (path.name,))
    ds.ImagePositionPatient = [ds_text(v) for v in spec.positions()[0]]
    ds.ImageOrientationPatient = [ds_text(v) for v in spec.plane()]
    set_spacing(ds, spec)
    if spec.slice_thickness is not None:
        ds.SliceThickness = spec.slice_thickness
    if spec.spacing_between_slices is not None:
        ds.SpacingBetweenSlices = spec.spacing_between_slices
    slope, intercept = spec.rescale(0)
    ds.RescaleSlope = ds_text(slope)
    ds.RescaleIntercept = ds_text(intercept)
    stored = np.stack([spec.stored(0, values[k]) for k in range(phantom.slices)])
    set_pixels(ds, spec, stored, rows=phantom.rows, columns=phantom.columns)
    save(ds, path, spec.transfer_syntax)
    return path


# --- files that must be refused or skipped -----------------------------------------------------------


def write_colour(path: Path, photometric: str, *, rows: int = 8, columns: int = 6) -> Path:
    """A small colour image: RGB and YBR_FULL with three samples, PALETTE COLOR with lookup tables."""
    spec = SeriesSpec(signed=False, bits_allocated=8)
    ds = base_dataset(spec, SecondaryCaptureImageStorage, uid_for("study"), uid_for("series", path.name), (path.name,))
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = photometric
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.SliceThickness = "1"
    ramp = (np.arange(rows * columns, dtype=np.uint8) * 3).reshape(rows, columns)
    if photometric == "PALETTE COLOR":
        ds.SamplesPerPixel = 1
        for colour in ("Red", "Green", "Blue"):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", (np.arange(256, dtype="<u2") * 257).tobytes())
        ds.PixelData = ramp.tobytes()
    else:
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
        ds.PixelData = np.stack([ramp, ramp[::-1], ramp.T.reshape(rows, columns)], axis=-1).tobytes()
    ds["PixelData"].VR = "OB"
    save(ds, path, ExplicitVRLittleEndian)
    return path


def truncate(path: Path, missing_bytes: int) -> Path:
    """Cut the last `missing_bytes` off a file, as an interrupted copy does."""
    data = path.read_bytes()
    path.write_bytes(data[:-missing_bytes])
    return path


def write_decoded_twin(source: Path, target: Path) -> Path:
    """The same image with the pixels pydicom decodes from `source`, written uncompressed.

    For a lossy file this is the twin that must measure exactly the same.
    """
    ds = pydicom.dcmread(source)
    pixels = ds.pixel_array
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    ds.SOPInstanceUID = uid_for("twin", ds.SOPInstanceUID)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    save(ds, target, ExplicitVRLittleEndian)
    return target
