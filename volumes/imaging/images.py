"""What a DICOM file is read into: the image, its frames and pixel layout, and why a file is not an image."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import UID

from .acquisitions import NO_ACQUISITION, Acquisition


class NotAnImage(Exception):
    """A file that cannot be measured; the message says why, for the person who sent it."""


def describe(error: Exception) -> str:
    """An exception's message on one line; pydicom lists each decoder's failure on a line of its own."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text = f"{text} {'; '.join(lines[1:])}"
    return text[:400]


@dataclass(frozen=True)
class Frame:
    """One 2D image: a single-frame file, or one frame of a multi-frame file.

    `pixel_spacing_mm` is (row spacing, column spacing): the distance between the centres of
    adjacent rows, then of adjacent columns. `orientation` is the six direction cosines of
    Image Orientation (Patient): the row direction, then the column direction.
    """

    index: int
    position_mm: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing_mm: tuple[float, ...] | None
    pixel_spacing_problem: str | None
    slice_thickness_mm: float | None
    spacing_between_slices_mm: float | None
    rescale_slope: float
    rescale_intercept: float
    acquisition: Acquisition = NO_ACQUISITION
    tile: int | None = None  # a mosaic's slice: which tile of stored frame `index`


@dataclass(frozen=True)
class Mosaic:
    """A Siemens mosaic: each stored frame holds `tiles` slices of `rows` × `columns`, laid out
    row by row, `per_row` tiles to a row of the mosaic."""

    tiles: int
    per_row: int
    rows: int
    columns: int


@dataclass(frozen=True)
class PixelLayout:
    """How the stored values are laid out in the file."""

    transfer_syntax_uid: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    float_pixels: bool
    photometric: str
    rows: int
    columns: int
    frames: int
    # Byte offset of uncompressed little- or big-endian 8/16-bit pixel data that can be read
    # straight from the file; None when pydicom has to decode it.
    native_offset: int | None
    big_endian: bool
    # Byte offset of compressed (encapsulated) Pixel Data's value, its Basic Offset Table item, where
    # decoding.py finds the frames; None when pydicom has to find them (no offset known, or an
    # Extended Offset Table).
    encapsulated_offset: int | None = None

    @property
    def monochrome1(self) -> bool:
        return self.photometric == "MONOCHROME1"

    @property
    def encapsulated(self) -> bool:
        """Whether the pixel data is encapsulated (compressed frames)."""
        return encapsulated_syntax(self.transfer_syntax_uid)


@functools.lru_cache(maxsize=64)
def encapsulated_syntax(transfer_syntax_uid: str) -> bool:
    """pydicom's answer, once per transfer syntax: its UID checks the string each time it is made."""
    return UID(transfer_syntax_uid).is_encapsulated


@dataclass(frozen=True)
class StoredHistogram:
    """The distinct stored values of one frame (ascending) and how many pixels hold each."""

    values: np.ndarray  # (k,) integers (int32 once `compact`), or float64 for float pixel data
    counts: np.ndarray  # (k,) integers


@dataclass(frozen=True)
class KeptFrame:
    """A frame's pixel words as read or decoded, and whether they are as stored (see
    pixels.iter_stored_frames): kept so as not to decode the frame again."""

    words: np.ndarray
    as_stored: bool


@dataclass(frozen=True)
class DicomImage:
    """A DICOM file with pixel data we can measure: identity, geometry per frame, pixel layout."""

    path: Path
    name: str
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    series_description: str
    series_number: int | None
    study_description: str
    study_date: str
    instance_number: int | None
    imager_pixel_spacing_mm: tuple[float, ...] | None
    gantry_tilt_deg: float | None
    pixels: PixelLayout
    frames: tuple[Frame, ...]
    notes: tuple[str, ...] = field(default=())
    localizer: bool = False
    # Each frame's histogram, when made while the file was read (`read_images(histograms=True)`).
    histograms: tuple[StoredHistogram, ...] | None = field(default=None, repr=False, compare=False)
    mosaic: Mosaic | None = None
    # The decoded words of its one frame, when kept while reading it (`reader.preview_candidates`).
    kept_frame: KeptFrame | None = field(default=None, repr=False, compare=False)

    @property
    def rows(self) -> int:
        """Rows of a slice (of a mosaic's tile)."""
        return self.mosaic.rows if self.mosaic else self.pixels.rows

    @property
    def columns(self) -> int:
        return self.mosaic.columns if self.mosaic else self.pixels.columns


def copy_with(record, **changes):
    """`dataclasses.replace` for the frozen records of this module, without running their __init__
    (which sets each field through object.__setattr__), which ImageReader does four times a file. None of these records has a __post_init__ to run."""
    unknown = changes.keys() - record.__dict__.keys()
    if unknown:
        raise TypeError(f"{type(record).__name__} has no field {', '.join(sorted(unknown))}")
    copy = object.__new__(type(record))
    copy.__dict__.update(record.__dict__)
    copy.__dict__.update(changes)
    return copy
