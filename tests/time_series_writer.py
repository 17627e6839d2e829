"""A long time series written fast: one file made with pydicom, the others its bytes with the per-file
values (SOP Instance UID, Instance Number, Image Position, Temporal Position Identifier) and the pixels
replaced in place, as a scanner writes them. No Django here."""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

from .phantoms import uid_for

ROWS = COLUMNS = 16
PIXEL_MM = (0.5, 0.75)
GAP_MM = 2.5


def write_time_series(folder: Path, *, time_points: int, slices: int) -> list[int]:
    """Write time_points × slices files; return each time point's box height in rows (4 × it voxels above 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = template_bytes()
    markers = {name: value_offset(template, tag) for name, tag in TAGS.items()}
    pixels_at = len(template) - ROWS * COLUMNS * 2
    rng = np.random.default_rng(3)
    boxes = [(t % 7) + 1 for t in range(time_points)]
    for t in range(time_points):
        for s in range(slices):
            data = bytearray(template)
            put(data, markers["sop"] + len(SOP_PREFIX), f"1{t:04d}.1{s:04d}".encode())
            put(data, markers["instance"], f"{t * slices + s + 1:08d}".encode())
            put(data, markers["position"] + 4, f"{s * GAP_MM:08.1f}".encode())  # after "0\\0\\"
            put(data, markers["temporal"], f"{t + 1:04d}".encode())
            image = np.zeros((ROWS, COLUMNS), dtype="<u2")
            if s in (1, 2):
                image[: boxes[t], 1:3] = 100
            data[pixels_at:] = image.tobytes()
            (folder / f"{rng.integers(1 << 62):016x}").write_bytes(bytes(data))
    return boxes


TAGS = {"sop": (0x0008, 0x0018), "instance": (0x0020, 0x0013), "position": (0x0020, 0x0032), "temporal": (0x0020, 0x0100)}
SOP_PREFIX = "1.2.826.0.1.3680043.10.511."


def value_offset(data: bytes, tag: tuple[int, int]) -> int:
    """Where the value of a short-VR explicit little-endian element begins (after tag, VR and length)."""
    group, element = tag
    return data.index(group.to_bytes(2, "little") + element.to_bytes(2, "little")) + 8


def put(data: bytearray, at: int, value: bytes) -> None:
    data[at : at + len(value)] = value


def template_bytes() -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = SOP_PREFIX + "19999.19999"
    ds.StudyInstanceUID = uid_for("long-study")
    ds.SeriesInstanceUID = uid_for("long-series")
    ds.Modality = "MR"
    ds.SeriesDescription = "long time series"
    ds.InstanceNumber = "99999999"
    ds.ImagePositionPatient = ["0", "0", "999999.9"]  # 0\0\ then the 8 characters replaced
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [str(v) for v in PIXEL_MM]
    ds.SliceThickness = str(GAP_MM)
    ds.TemporalPositionIdentifier = "9999"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = bytes(ROWS * COLUMNS * 2)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
