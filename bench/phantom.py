"""A synthetic CT series for the benchmark: 512×512 slices of 16-bit uncompressed DICOM.

Each slice is a cross-section of a body-like phantom in Hounsfield units: air around an elliptic
body (a fat layer over soft tissue), two lungs, a vertebra with a cortical shell, ribs, a scanner
table, Gaussian noise, and the padding value outside the reconstruction circle. The shapes change
along the body so no two slices are alike. Stored values are HU + 1024 (Rescale Intercept −1024),
12 bits stored in 16 allocated, as most CT scanners write them.
"""
from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROWS = COLUMNS = 512
PIXEL_SPACING_MM = 0.78125
"""A 400 mm field of view over 512 pixels."""
SLICE_SPACING_MM = 1.0
RESCALE_INTERCEPT = -1024.0
NOISE_HU = 12.0
"""Standard deviation of the Gaussian noise added to every pixel."""
GENERATOR_VERSION = 1
"""Bumped whenever the generated files change, so stale folders are written again."""


def series_folder(root: Path, slices: int) -> Path:
    """The folder holding the series of `slices` slices, written there first if missing or stale."""
    folder = root / f"ct-{slices}"
    marker = root / f"ct-{slices}.json"  # beside the folder, so the folder holds only the series
    wanted = {"version": GENERATOR_VERSION, "slices": slices, "rows": ROWS, "columns": COLUMNS}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.dcm"):
        old.unlink()
    write_series(folder, slices)
    marker.write_text(json.dumps(wanted))
    return folder


def write_series(folder: Path, slices: int) -> None:
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    grid = pixel_grid_mm()
    for index in range(slices):
        hu = phantom_slice_hu(grid, index / max(1, slices - 1), np.random.default_rng(index))
        stored = np.clip(np.rint(hu - RESCALE_INTERCEPT), 0, 4095).astype(np.uint16)
        ds = slice_dataset(index, slices, study_uid, series_uid, frame_uid)
        ds.PixelData = stored.tobytes()
        ds.save_as(folder / f"IM{index + 1:05d}.dcm", enforce_file_format=True)


def pixel_grid_mm() -> tuple[np.ndarray, np.ndarray]:
    """x (left→right) and y (anterior→posterior) of every pixel centre, mm from the image centre."""
    centres = (np.arange(COLUMNS) - (COLUMNS - 1) / 2) * PIXEL_SPACING_MM
    return np.meshgrid(centres, centres)


def phantom_slice_hu(grid: tuple[np.ndarray, np.ndarray], z: float, rng: np.random.Generator) -> np.ndarray:
    """One cross-section in HU at relative height z (0 = feet end, 1 = head end), noise included."""
    x, y = grid
    hu = np.full(x.shape, -1000.0)
    body_a = 165 * (0.8 + 0.2 * math.sin(math.pi * z))  # wider in the middle of the body
    body_b = 110 * (0.8 + 0.2 * math.sin(math.pi * z))
    body = (x / body_a) ** 2 + (y / body_b) ** 2
    hu[body <= 1] = -100.0  # fat
    hu[(x / (body_a - 12)) ** 2 + (y / (body_b - 12)) ** 2 <= 1] = 40.0  # soft tissue
    chest = 0.45 < z < 0.9
    if chest:
        lung_size = math.sin(math.pi * (z - 0.45) / 0.45)
        for side in (-1, 1):
            lung = ((x - side * 0.45 * body_a) / (0.35 * body_a * lung_size + 1)) ** 2 + (
                (y + 10) / (0.6 * body_b * lung_size + 1)
            ) ** 2
            hu[lung <= 1] = -850.0
        for angle in np.linspace(0.15 * math.pi, 0.85 * math.pi, 6):
            for side in (-1, 1):
                rib_x = side * 0.9 * body_a * math.cos(angle)
                rib_y = -0.9 * body_b * math.sin(angle)
                hu[(x - rib_x) ** 2 + (y - rib_y) ** 2 <= 25] = 900.0
    spine = (x**2 + (y - 0.6 * body_b) ** 2)
    hu[spine <= 16**2] = 700.0  # cortical shell
    hu[spine <= 12**2] = 250.0  # marrow
    table = (y > body_b + 8) & (y < body_b + 14) & (np.abs(x) < 180)
    hu[table] = 200.0
    hu += rng.normal(0.0, NOISE_HU, size=hu.shape)
    outside = x**2 + y**2 > (COLUMNS / 2 * PIXEL_SPACING_MM) ** 2
    hu[outside] = RESCALE_INTERCEPT  # padding outside the reconstruction circle: stored 0
    return hu


def slice_dataset(index: int, slices: int, study_uid: str, series_uid: str, frame_uid: str) -> Dataset:
    """A CT Image header as scanners write them: identity, acquisition, geometry, pixel description."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    sop_uid = generate_uid()
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    today = datetime.date(2026, 1, 15).strftime("%Y%m%d")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = today
    ds.StudyTime = ds.SeriesTime = "101500"
    ds.AcquisitionTime = ds.ContentTime = f"1016{index % 60:02d}.{index:06d}"
    ds.AccessionNumber = "BENCH0001"
    ds.Modality = "CT"
    ds.Manufacturer = "Benchmark Phantom Works"
    ds.InstitutionName = "Nowhere Hospital"
    ds.ReferringPhysicianName = "Doe^Jane"
    ds.StationName = "CT01"
    ds.StudyDescription = "CHEST ABDOMEN PELVIS"
    ds.SeriesDescription = f"Synthetic body {slices} x 1.0 mm"
    ds.ManufacturerModelName = "Phantom 512"
    ds.PatientName = "Phantom^Bench"
    ds.PatientID = "BENCH-001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "056Y"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = SLICE_SPACING_MM
    ds.KVP = 120
    ds.DataCollectionDiameter = 500
    ds.SoftwareVersions = "bench-1"
    ds.ReconstructionDiameter = COLUMNS * PIXEL_SPACING_MM
    ds.DistanceSourceToDetector = 1040
    ds.DistanceSourceToPatient = 570
    ds.GantryDetectorTilt = 0
    ds.TableHeight = 160
    ds.RotationDirection = "CW"
    ds.ExposureTime = 500
    ds.XRayTubeCurrent = 250
    ds.Exposure = 125
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = 30
    ds.FocalSpots = 1.2
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "FFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    z_mm = -index * SLICE_SPACING_MM
    origin = -(COLUMNS - 1) / 2 * PIXEL_SPACING_MM
    ds.ImagePositionPatient = [origin, origin, z_mm]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = z_mm
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.PixelSpacing = [PIXEL_SPACING_MM, PIXEL_SPACING_MM]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.RescaleIntercept = RESCALE_INTERCEPT
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    block = ds.private_block(0x0009, "BENCH PHANTOM", create=True)
    block.add_new(0x01, "LO", "scan protocol: chest abdomen pelvis")
    block.add_new(0x02, "DS", "1.0")
    block.add_new(0x03, "OB", bytes(2048))  # a vendor blob, larger than the header reader defers
    return ds
