"""Walking the elements of a DICOM file's bytes: the cursor, one level of elements, sequences skipped.

What `headers.py` builds its headers from, and what `header_layouts.py` follows. Anything this walk
does not handle raises NotPlain, and the file goes to pydicom.
"""
from __future__ import annotations

import os
import struct
from typing import NamedTuple

from pydicom.charset import default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag
from pydicom.uid import AllTransferSyntaxes
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
PIXEL_DATA = 0x7FE00010
SPECIFIC_CHARACTER_SET = 0x00080005
TRANSFER_SYNTAX_UID = 0x00020010
ITEM = 0xFFFEE000
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
ENCAPSULATED_SYNTAXES = frozenset(
    str(syntax) for syntax in AllTransferSyntaxes if syntax.is_encapsulated and not syntax.is_deflated
)
"""Compressed transfer syntaxes: their data sets are Explicit VR Little Endian up to the encapsulated Pixel Data."""

READ_BYTES = 16384
"""How much of a file is read at a time: a CT header and its private blobs fit in one read."""
MAX_NESTING = 8
"""Sequences nested deeper than this are left to pydicom."""

KEPT_KEYWORDS = (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID", "StudyDate", "Modality",
    "StudyDescription", "SeriesDescription", "SliceThickness", "SpacingBetweenSlices", "GantryDetectorTilt",
    "ImagerPixelSpacing", "StudyInstanceUID", "SeriesInstanceUID", "SeriesNumber", "InstanceNumber",
    "ImagePositionPatient", "ImageOrientationPatient", "SamplesPerPixel", "PhotometricInterpretation",
    "NumberOfFrames", "Rows", "Columns", "PixelSpacing", "BitsAllocated", "BitsStored", "PixelRepresentation",
    "RescaleIntercept", "RescaleSlope", "DoseGridScaling", "GridFrameOffsetVector",
    # what tells contrasts and time points apart (acquisition_header.read_acquisition)
    "EchoNumbers", "EchoTime", "DiffusionBValue", "DiffusionGradientOrientation", "ASLContext",
    "TemporalPositionIdentifier", "AcquisitionNumber", "TriggerTime", "FrameReferenceTime", "AcquisitionTime",
)
"""The elements whose values reading.py reads: their bytes are kept while the file is walked."""
KEPT_TAGS = frozenset(tag_for_keyword(keyword) for keyword in KEPT_KEYWORDS)
META_TAGS = frozenset((TRANSFER_SYNTAX_UID, 0x00020002))  # and Media Storage SOP Class UID
ENCODED_VRS = frozenset(vr.encode() for vr in VR)
LONG_LENGTH_VRS = frozenset(vr.encode() for vr in EXPLICIT_VR_LENGTH_32)
EXPLICIT_ELEMENT = struct.Struct("<HH2sH")
IMPLICIT_ELEMENT = struct.Struct("<HHL")
LONG_LENGTH = struct.Struct("<L")


class NotPlain(Exception):
    """The file is not one this reader walks; pydicom reads it."""


class LaidOut(NamedTuple):
    """One top-level element as a walk found it."""

    tag: int
    VR: str | None
    header: bytes  # tag, VR and length as written
    length: int
    sequence: bytes | None  # the whole value of a sequence of undefined length, delimiter included
    at: int  # where it starts in the file

    @property
    def end(self) -> int:
        return self.at + len(self.header) + (len(self.sequence) if self.sequence is not None else self.length)



def plain_syntax_is_implicit(meta_elements: dict[int, RawDataElement]) -> bool | None:
    """Whether the transfer syntax is Implicit VR Little Endian; False for Explicit VR Little Endian and
    the compressed syntaxes (whose data sets are encoded so); None for any other (big endian, deflated)."""
    syntax_element = meta_elements.get(TRANSFER_SYNTAX_UID)
    if syntax_element is None:
        return None
    syntax = (syntax_element.value or b"").decode(default_encoding).rstrip("\0 ")  # as convert_UI reads it
    if syntax not in (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN) and syntax not in ENCAPSULATED_SYNTAXES:
        return None
    return syntax == IMPLICIT_VR_LITTLE_ENDIAN


def looks_explicit(first: bytes) -> bool | None:
    """Whether an element starting with these 6 bytes has a VR (two capital letters); None when too short."""
    if len(first) < 6:
        return None
    return 0x40 < first[4] < 0x5B and 0x40 < first[5] < 0x5B


def walk_elements(
    cursor: Cursor, *, implicit: bool, kept: frozenset, meta: bool, layout: list
) -> tuple[dict, set, bool]:
    """Walk one level of elements: the raw kept ones, the tags present, and whether Pixel Data ended the walk.

    The file meta group ends at the first element of another group; the data set at Pixel Data
    (whose value is not read) or at the end of the file. This loop runs for every element of
    every file, so it unpacks straight from the cursor's block. Each element is appended to
    `layout` (None when a sequence of undefined length could not be kept whole).
    """
    elements: dict[int, RawDataElement] = {}
    present: set[int] = set()
    previous = -1
    while True:
        if cursor.at + 12 > len(cursor.block):
            cursor.refill(12)
        block, at, base = cursor.block, cursor.at, cursor.base
        start = at
        remaining = len(block) - at
        if remaining < 8:
            if remaining or meta:
                raise NotPlain("the file ends inside an element")
            return elements, present, False
        if meta and block[at : at + 2] != b"\x02\x00":
            return elements, present, False
        if implicit:
            group, element, length = IMPLICIT_ELEMENT.unpack_from(block, at)
            vr = None
            at += 8
        else:
            group, element, vr_bytes, length = EXPLICIT_ELEMENT.unpack_from(block, at)
            at += 8
            if vr_bytes in LONG_LENGTH_VRS:
                if remaining < 12:
                    raise NotPlain("the file ends inside an element")
                length = LONG_LENGTH.unpack_from(block, at)[0]
                at += 4
            elif vr_bytes not in ENCODED_VRS:
                raise NotPlain(f"unknown VR {vr_bytes!r}")
            vr = vr_bytes.decode()
        cursor.at = at
        tag = group << 16 | element
        if tag <= previous or group == 0xFFFE or (not meta and group == 0x0002):
            raise NotPlain("elements out of order")
        previous = tag
        present.add(tag)
        header = block[start:at]
        if length == UNDEFINED_LENGTH and tag != PIXEL_DATA:  # Pixel Data: compressed frames, not walked
            if not is_sequence(tag, vr):
                raise NotPlain("an undefined length that is not a sequence")
            skip_sequence(cursor, implicit, 1)
            same_block = cursor.block is block
            layout.append(LaidOut(tag, vr, header, length, block[at : cursor.at], base + start) if same_block else None)
            continue
        layout.append(LaidOut(tag, vr, header, length, None, base + start))
        if tag == PIXEL_DATA:
            value_tell = cursor.tell()
            value = cursor.take(length) if length <= 1024 else None
            elements[tag] = RawDataElement(BaseTag(tag), vr, length, value, value_tell, implicit, True)
            return elements, present, True
        if tag in kept:
            value_tell = cursor.tell()
            elements[tag] = RawDataElement(BaseTag(tag), vr, length, cursor.take(length), value_tell, implicit, True)
        elif at + length <= len(block):
            cursor.at = at + length
        else:
            cursor.skip(length)


def read_element_header(cursor: Cursor, implicit: bool) -> tuple[int, str | None, int]:
    """Tag, VR (None when implicit) and length of the element at the cursor; the cursor moves to its value."""
    if implicit:
        group, element, length = IMPLICIT_ELEMENT.unpack(cursor.take(8))
        return group << 16 | element, None, length
    group, element, vr, length = EXPLICIT_ELEMENT.unpack(cursor.take(8))
    if group == 0xFFFE:
        return group << 16 | element, None, LONG_LENGTH.unpack(vr + struct.pack("<H", length))[0]
    if vr not in ENCODED_VRS:
        raise NotPlain(f"unknown VR {vr!r}")
    if vr in LONG_LENGTH_VRS:
        length = LONG_LENGTH.unpack(cursor.take(4))[0]
    return group << 16 | element, vr.decode(), length


def is_sequence(tag: int, vr: str | None) -> bool:
    if vr is not None:
        return vr == "SQ"
    if tag >> 16 & 1:
        return True  # a private element of undefined length: pydicom reads it as a sequence of items
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def skip_sequence(cursor: Cursor, implicit: bool, depth: int) -> None:
    """Move past the items of a sequence of undefined length and its delimiter."""
    if depth > MAX_NESTING:
        raise NotPlain("sequences nested too deep")
    while True:
        tag, length = read_item_header(cursor)
        if tag == SEQUENCE_END:
            return
        if tag != ITEM:
            raise NotPlain("a sequence holds something other than items")
        if length != UNDEFINED_LENGTH:
            cursor.skip(length)
            continue
        first = cursor.peek(6)
        if not implicit and len(first) == 6 and first[:2] != b"\xfe\xff" and not (
            0x40 < first[4] < 0x5B and 0x40 < first[5] < 0x5B
        ):
            raise NotPlain("an item in implicit VR inside an explicit VR data set")  # pydicom switches
        while True:  # the elements of an item of undefined length, up to its delimiter
            if cursor.peek(4) == b"\xfe\xff\x0d\xe0":
                read_item_header(cursor)
                break
            tag, vr, length = read_element_header(cursor, implicit)
            if tag >> 16 == 0xFFFE:
                raise NotPlain("a delimiter out of place")
            if length == UNDEFINED_LENGTH:
                if not is_sequence(tag, vr):
                    raise NotPlain("an undefined length that is not a sequence")
                skip_sequence(cursor, implicit, depth + 1)
            else:
                cursor.skip(length)


def read_item_header(cursor: Cursor) -> tuple[int, int]:
    group, element, length = IMPLICIT_ELEMENT.unpack(cursor.take(8))
    return group << 16 | element, length


class Cursor:
    """Reads a file forward in large blocks; skipping past the block seeks."""

    def __init__(self, f) -> None:
        self.f = f
        self.size = os.fstat(f.fileno()).st_size
        self.base = 0  # file offset of block[0]
        self.block = f.read(READ_BYTES)
        self.at = 0  # position in block

    def tell(self) -> int:
        return self.base + self.at

    def peek(self, count: int) -> bytes:
        if self.at + count > len(self.block):
            self.refill(count)
        return self.block[self.at : self.at + count]

    def take(self, count: int) -> bytes:
        data = self.peek(count)
        if len(data) < count:
            raise NotPlain("the file ends inside an element")
        self.at += count
        return data

    def skip(self, count: int) -> None:
        target = self.tell() + count
        if target > self.size:
            raise NotPlain("an element runs past the end of the file")
        if self.at + count <= len(self.block):
            self.at += count
            return
        self.f.seek(target)
        self.base, self.block, self.at = target, self.f.read(READ_BYTES), 0

    def refill(self, count: int) -> None:
        """Make at least `count` bytes from the position available in the block, unless the file ends first."""
        rest = self.block[self.at :]
        self.base += self.at
        self.block = rest + self.f.read(max(READ_BYTES, count - len(rest)))
        self.at = 0
