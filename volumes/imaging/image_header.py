"""A file's header → the DicomImage it describes, or NotAnImage saying why the file cannot be measured."""
from __future__ import annotations

import math
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from .frames import read_frames
from .images import DicomImage, NotAnImage, PixelLayout, describe
from .mosaics import is_mosaic, read_mosaic
from .sources import SourceFile
from .values import optional_float, optional_int, read_floats, read_strings

PIXEL_DATA_TAG = 0x7FE00010
FLOAT_PIXEL_DATA_TAG = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA_TAG = 0x7FE00009
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
DEFLATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1.99"
COLOUR_PHOTOMETRICS = ("RGB", "YBR", "PALETTE", "HSV", "ARGB", "CMYK")
GZIP_MAGIC = b"\x1f\x8b"
# Pixel Data (7FE0,0010), OB, undefined length: how compressed pixel data begins (always little endian).
ENCAPSULATED_PIXEL_DATA_START = b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff"
# What a DICOM object without pixel data is, by a part of its SOP Class name.
NON_IMAGE_KINDS = (
    ("SR Storage", "a structured report"),
    ("Plan Storage", "a treatment plan"),
    ("Structure Set", "a set of contours"),
    ("Waveform", "a waveform"),
    ("Presentation State", "a presentation state"),
)
# Values larger than this stay on disk while the header is parsed: pixel data and big private blobs.
DEFER_BYTES = 1024
SCAN_CHUNK_BYTES = 1024 * 1024
"""How much of a file is in memory at once when it is searched for a pattern."""
MAX_FRAMES = 100_000
"""More frames than this in one file is out of any acquisition's range."""
MAX_PIXELS_PER_FILE = 1 << 32
"""Rows × Columns × frames above this (4 Gi pixels) is out of the range this tool measures."""
UNDEFINED_LENGTH = 0xFFFFFFFF


def image_from_dataset(ds, source: SourceFile) -> DicomImage:
    """The image a parsed header describes (a pydicom Dataset, or a PlainHeader that answers like one)."""
    sop_class_uid = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if sop_class_uid == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise NotAnImage("a DICOM directory (DICOMDIR) that lists other files; it holds no image")
    pixel_element = ds.get_item(PIXEL_DATA_TAG, keep_deferred=True)
    float_pixels = PIXEL_DATA_TAG not in ds and (FLOAT_PIXEL_DATA_TAG in ds or DOUBLE_FLOAT_PIXEL_DATA_TAG in ds)
    if pixel_element is None and not float_pixels:
        if ends_inside_encapsulated_pixel_data(source.path):
            raise NotAnImage(
                "truncated pixel data: the file ends inside its compressed pixel data, before the end of the last frame"
            )
        raise NotAnImage(no_pixel_data_reason(sop_class_uid))
    pixels = read_pixel_layout(ds, pixel_element, float_pixels, source.path)
    frames, notes = read_frames(ds, pixels.frames)
    mosaic = None
    if is_mosaic(ds):
        mosaic, frames, notes = read_mosaic(parse_header(source.path), pixels, frames[0])
    return DicomImage(
        path=source.path,
        name=source.name,
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        sop_class_uid=sop_class_uid,
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        modality=str(ds.get("Modality", "") or ""),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_number=optional_int(ds, "SeriesNumber"),
        study_description=str(ds.get("StudyDescription", "") or ""),
        study_date=str(ds.get("StudyDate", "") or ""),
        instance_number=optional_int(ds, "InstanceNumber"),
        imager_pixel_spacing_mm=read_floats(ds, "ImagerPixelSpacing")[0],
        gantry_tilt_deg=optional_float(ds, "GantryDetectorTilt"),
        pixels=pixels,
        frames=frames,
        notes=notes,
        localizer="LOCALIZER" in (str(value).upper() for value in read_strings(ds, "ImageType")),
        mosaic=mosaic,
    )


def ends_inside_encapsulated_pixel_data(path: Path) -> bool:
    """pydicom drops compressed Pixel Data whose file ends before its delimiter; its start is still there.

    Read in chunks of SCAN_CHUNK_BYTES (overlapping by the pattern's length): a file of any size costs
    one chunk of memory."""
    overlap = len(ENCAPSULATED_PIXEL_DATA_START) - 1
    with open(path, "rb") as f:
        tail = b""
        while chunk := f.read(SCAN_CHUNK_BYTES):
            if ENCAPSULATED_PIXEL_DATA_START in tail + chunk:
                return True
            tail = chunk[-overlap:]
    return False


def no_pixel_data_reason(sop_class_uid: str) -> str:
    """Why a DICOM object without Pixel Data cannot be measured: what kind of object it is."""
    if not sop_class_uid:
        return "no pixel data, and no SOP Class UID to say what the file holds: not an image"
    name = UID(sop_class_uid).name
    if "Image Storage" in name:
        return f"no pixel data: labelled {name}, but the file holds only a header, no Pixel Data (7FE0,0010)"
    kind = next((plain for part, plain in NON_IMAGE_KINDS if part in name), None)
    return f"no pixel data: {name}{f' ({kind})' if kind else ''} is not an image"


def parse_header(path: Path) -> pydicom.Dataset:
    """Read a file's data set with large values deferred; NotAnImage when it is not DICOM."""
    size = path.stat().st_size
    if size == 0:
        raise NotAnImage("an empty file (0 bytes)")
    try:
        return pydicom.dcmread(path, defer_size=DEFER_BYTES)
    except InvalidDicomError:
        if is_gzip(path):
            raise NotAnImage("not a DICOM file but gzip-compressed data: only .zip archives are unpacked") from None
        if not looks_like_preambleless_dicom(path):
            raise NotAnImage("not a DICOM file (no DICOM preamble or header)") from None
    except Exception as error:  # pydicom raises many kinds on damaged files
        raise NotAnImage(f"a damaged DICOM file: the header cannot be read ({describe(error)})") from None
    try:
        return pydicom.dcmread(path, defer_size=DEFER_BYTES, force=True)
    except Exception as error:
        raise NotAnImage(f"a damaged DICOM file: the header cannot be read ({describe(error)})") from None


def looks_like_preambleless_dicom(path: Path) -> bool:
    """Old files without the 128-byte preamble start straight with a group 0x0002 or 0x0008 element
    (little- or big-endian)."""
    with open(path, "rb") as f:
        return f.read(2) in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def read_pixel_layout(ds: pydicom.Dataset, pixel_element, float_pixels: bool, path: Path) -> PixelLayout:
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    samples = optional_int(ds, "SamplesPerPixel") or 1
    if samples != 1 or photometric.startswith(COLOUR_PHOTOMETRICS):
        raise NotAnImage(
            f"a colour image ({photometric or f'{samples} samples per pixel'}): colours cannot be "
            "thresholded as intensities"
        )
    rows = optional_int(ds, "Rows") or 0
    columns = optional_int(ds, "Columns") or 0
    bits_allocated = optional_int(ds, "BitsAllocated") or 0
    missing = [
        label
        for keyword, label in (("Rows", "Rows (0028,0010)"), ("Columns", "Columns (0028,0011)"))
        if ds.get(keyword) in (None, "")
    ]
    if missing:
        raise NotAnImage(f"pixel data without {' and '.join(missing)}: the size of the image is unknown")
    if rows <= 0 or columns <= 0:
        raise NotAnImage(f"Rows ({ds.get('Rows')}) and Columns ({ds.get('Columns')}) must be positive")
    if bits_allocated not in (1, 8, 16, 32, 64):
        raise NotAnImage(f"Bits Allocated {ds.get('BitsAllocated')} is not a pixel size this tool reads")
    frames = optional_int(ds, "NumberOfFrames")
    if frames is None and ds.get("NumberOfFrames") not in (None, ""):
        raise NotAnImage(
            f"Number of Frames (0028,0008) is {str(ds.get('NumberOfFrames'))!r}, not a whole number: "
            "the frames cannot be told apart"
        )
    frames = frames or 1
    if frames < 1:
        raise NotAnImage(f"Number of Frames is {ds.get('NumberOfFrames')}")
    if frames > MAX_FRAMES:
        raise NotAnImage(f"Number of Frames (0028,0008) is {frames:,}: more than {MAX_FRAMES:,}, out of any acquisition's range")
    if rows * columns * frames > MAX_PIXELS_PER_FILE:
        raise NotAnImage(
            f"{rows:,} × {columns:,} pixels × {frames:,} frames: more than {MAX_PIXELS_PER_FILE:,} pixels in one file, "
            "out of the range this tool measures"
        )
    bits_stored = optional_int(ds, "BitsStored")
    bits_stored = bits_allocated if bits_stored is None else bits_stored
    if not 1 <= bits_stored <= bits_allocated:
        raise NotAnImage(
            f"Bits Stored (0028,0101) is {bits_stored} with Bits Allocated (0028,0100) {bits_allocated}: "
            "a pixel cannot store more bits than it is given"
        )
    transfer_syntax = read_transfer_syntax(ds)
    if not transfer_syntax.is_transfer_syntax:
        raise NotAnImage(f"an unknown transfer syntax {transfer_syntax}")
    native_offset = None
    if not float_pixels and not transfer_syntax.is_encapsulated:
        expected = rows * columns * frames * bits_allocated // 8
        if bits_allocated == 1:
            expected = math.ceil(rows * columns * frames / 8)
        length = pixel_element.length
        if length == UNDEFINED_LENGTH:
            raise NotAnImage(
                "Pixel Data (7FE0,0010) has an undefined length, which only compressed (encapsulated) pixel data "
                f"may have, in a file of transfer syntax {transfer_syntax.name}"
            )
        value_tell = None if transfer_syntax == DEFLATED_TRANSFER_SYNTAX else getattr(pixel_element, "value_tell", None)
        file_size = path.stat().st_size
        if value_tell is not None and length > expected + 1 and value_tell + length > file_size:
            raise NotAnImage(
                f"a damaged Pixel Data (7FE0,0010) element: it declares {length:,} bytes, but the file ends "
                f"{max(file_size - value_tell, 0):,} bytes after its start"
            )
        if length < expected:
            raise NotAnImage(
                f"truncated pixel data: {length:,} bytes where Rows × Columns × frames "
                f"({rows} × {columns} × {frames}) at {bits_allocated} bits need {expected:,}"
            )
        frame_bits = rows * columns * bits_allocated
        # More than the one padding byte, and room for a whole frame more than the header gives.
        if length > expected + 1 and (length - expected) * 8 >= frame_bits:
            raise NotAnImage(
                f"the pixel data does not match Rows × Columns × frames: {length:,} bytes hold "
                f"{length * 8 // frame_bits} frames of {rows} × {columns} at {bits_allocated} bits, "
                f"where Number of Frames gives {frames}"
            )
        # In a deflated file the value's position is one in the inflated stream, not in the file.
        if value_tell is not None and value_tell + expected > file_size:
            raise NotAnImage(
                f"truncated pixel data: the file ends {value_tell + expected - file_size:,} "
                "bytes before the image does"
            )
        if value_tell is not None and bits_allocated in (8, 16):
            native_offset = value_tell
    encapsulated_offset = None
    if transfer_syntax.is_encapsulated:
        if not transfer_syntax_decodable(transfer_syntax):
            raise NotAnImage(f"compressed with {transfer_syntax.name}, which no installed decoder reads")
        if "ExtendedOffsetTable" not in ds:
            encapsulated_offset = getattr(pixel_element, "value_tell", None)
    return PixelLayout(
        transfer_syntax_uid=str(transfer_syntax),
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=(optional_int(ds, "PixelRepresentation") or 0) == 1,
        float_pixels=float_pixels,
        photometric=photometric or "MONOCHROME2",
        rows=rows,
        columns=columns,
        frames=frames,
        native_offset=native_offset,
        big_endian=not transfer_syntax.is_little_endian,
        encapsulated_offset=encapsulated_offset,
    )


def read_transfer_syntax(ds: pydicom.Dataset) -> UID:
    """The file's transfer syntax; for files without meta information, the encoding pydicom found."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return UID(str(meta.TransferSyntaxUID))
    implicit, little = ds.original_encoding
    if implicit:
        return UID("1.2.840.10008.1.2")
    return UID("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")


def transfer_syntax_decodable(transfer_syntax: UID) -> bool:
    try:
        return get_decoder(transfer_syntax).is_available
    except NotImplementedError:
        return False
