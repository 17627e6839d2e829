"""A fast reader for the headers of plain DICOM files, answering like a pydicom Dataset.

pydicom's dcmread builds a Dataset of every element of a file and then converts each value asked
for through its hooks (README, Benchmark, gives what each costs). A series holds hundreds of
files, so `scan_plain_header` walks the elements itself, keeps the bytes of the few elements the
measurement reads (KEPT_KEYWORDS) and converts them with pydicom's own value converter: every value
is the one pydicom gives. Anything else asked of it (the value of another element, a sequence, an
unusual VR) is answered by pydicom's full parse, made on first need. Compressed files are walked
too, up to their encapsulated Pixel Data (the frames are pydicom's to decode). A file that is not
plain (no preamble, big-endian, deflated, irregular elements, compressed pixel data that does not
end the file) gives None: the caller reads it with pydicom as before. The files of a series repeat one another's header, so a file can also be
read by following the layout of one read before (`follow_layout`): comparing bytes, not decoding them.
"""
from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag
from pydicom.uid import AllTransferSyntaxes
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_value

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
FOLLOW_SLACK_BYTES = 2048
"""Read this much beyond where the other file's Pixel Data starts when following its layout: room for
a header a little longer (longer UIDs and positions) and for a small Pixel Data value."""
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

CONVERTED_VRS = frozenset(("AS", "CS", "DA", "DS", "FD", "FL", "IS", "LO", "SH", "SL", "SS", "TM", "UI", "UL", "US"))
"""VRs whose values are converted here (by pydicom's converter); others are left to pydicom."""
NUMBER_BYTES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}

MAX_CONVERTED = 8192
"""ConvertedValues forgets all it holds when it reaches this many values (values unique to each file add up)."""
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


class Span(NamedTuple):
    """Consecutive elements that are not kept: their bytes in the file walked, and each of them."""

    whole: bytes | None  # None when the header was not read in one block: each element is then followed
    elements: tuple[LaidOut, ...]


class Kept(NamedTuple):
    """A kept element (or Pixel Data): as laid out, its bytes and its raw element in the file walked."""

    element: LaidOut
    whole: bytes | None  # tag, VR, length and value, when the header was read in one block
    raw: RawDataElement


class Layout(NamedTuple):
    """The elements of a walked file, in order, up to Pixel Data: what `follow_layout` checks another file against.

    Kept elements and Pixel Data are steps of their own; the elements between them are grouped in
    Spans, which another file of the series usually repeats byte for byte.
    """

    meta: tuple[Kept | Span, ...]
    data: tuple[Kept | Span, ...]
    implicit: bool
    meta_present: frozenset[int]
    present: frozenset[int]
    header_bytes: int  # where the value of Pixel Data starts


class HeaderElement(NamedTuple):
    """What `header[keyword]` gives: the element's tag, VR and converted value."""

    tag: int
    VR: str
    value: Any


class ConvertedValues:
    """Header values converted so far, by (tag, VR, bytes, encodings): the files of a series repeat
    most of their header (size, spacing, orientation, rescale, UIDs of study and series), so most
    values are converted once per series instead of once per file. The same bytes always convert to
    the same value; a value that pydicom warns about is warned about the first time only. Kept for
    the life of a process by its `ReadingRuntime`."""

    def __init__(self) -> None:
        self._values: dict[tuple, Any] = {}

    def convert(self, vr: str, raw: RawDataElement, encodings) -> Any:
        """pydicom's value of `raw`, converted once for the same bytes."""
        key = (raw.tag, vr, raw.value, encodings if isinstance(encodings, str) else tuple(encodings))
        value = self._values.get(key, self)
        if value is self:
            value = convert_value(vr, raw, encodings)
            if len(self._values) >= MAX_CONVERTED:
                self._values.clear()
            self._values[key] = value
        return value


class PlainHeader:
    """The top-level elements of a plain file: which are present, and the values of the kept ones.

    Supports what reading.py asks of a pydicom Dataset (`in`, `get`, `[keyword].value`, attribute
    access, `get_item(tag, keep_deferred=True)`, `file_meta`, `original_encoding`); everything
    else goes to the Dataset that `load_dataset` returns, loaded once.
    """

    def __init__(
        self,
        elements: dict[int, RawDataElement],
        present: set[int],
        last_tag: int | None,
        implicit: bool,
        file_meta: PlainHeader | None,
        load_dataset: Callable[[], Any],
        converted: ConvertedValues,
        layout: Layout | None = None,
    ) -> None:
        self.layout = layout  # how the file is laid out, for `scan_plain_header(like=...)`
        self._elements = elements
        self._present = present
        self._last_tag = last_tag  # elements after it were not walked; None when all were
        self._implicit = implicit
        self._file_meta = file_meta
        self._load_dataset = load_dataset
        self._converted = converted
        self._dataset = None
        self._values: dict[int, Any] = {}
        self._encodings = None

    def _full(self):
        if self._dataset is None:
            self._dataset = self._load_dataset()
        return self._dataset

    def _walked(self, tag: int) -> bool:
        return self._last_tag is None or tag <= self._last_tag

    def __contains__(self, key) -> bool:
        tag = tag_for_keyword(key) if isinstance(key, str) else key
        if not isinstance(tag, int) or not self._walked(tag):
            return key in self._full()
        return tag in self._present

    def get(self, key, default=None):
        tag = tag_for_keyword(key) if isinstance(key, str) else None
        if tag is None or not self._walked(tag):
            return self._full().get(key, default)
        if tag not in self._present:
            return default
        return self._value(tag, key)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        tag = tag_for_keyword(name)
        if tag is not None and tag in self._elements:
            return self._value(tag, name)
        return getattr(self._full(), name)

    def __getitem__(self, key):
        tag = tag_for_keyword(key) if isinstance(key, str) else None
        if tag is None or tag not in self._elements:
            return self._full()[key]
        value = self._value(tag, key)
        return HeaderElement(tag, self._vr(tag), value)

    def get_item(self, key, *, keep_deferred: bool = False):
        if keep_deferred and isinstance(key, int) and self._walked(key):
            if key in self._elements:
                return self._elements[key]
            if key not in self._present:
                return None
        return self._full().get_item(key, keep_deferred=keep_deferred)

    @property
    def loaded(self) -> bool:
        """Whether something was asked that only pydicom's full parse of the file answers."""
        return self._dataset is not None or (self._file_meta is not None and self._file_meta.loaded)

    def differs_from(self, other: PlainHeader, ignoring: frozenset = frozenset()) -> bool:
        """Whether the kept elements differ in tag, VR or bytes (what values are made from), but for `ignoring`."""
        mine, theirs = self._elements, other._elements
        if mine.keys() != theirs.keys():
            return True
        return any(differ(raw, theirs[tag]) for tag, raw in mine.items() if tag not in ignoring)

    def differs_at(self, other: PlainHeader, tag: int) -> bool:
        """Whether one kept element differs in VR or bytes, or is in one header only."""
        return differ(self._elements.get(tag), other._elements.get(tag))

    @property
    def file_meta(self):
        return self._file_meta if self._file_meta is not None else self._full().file_meta

    @property
    def original_encoding(self) -> tuple[bool, bool]:
        return self._implicit, True

    def _vr(self, tag: int) -> str | None:
        raw = self._elements[tag]
        if raw.VR is not None:
            return raw.VR
        try:
            return dictionary_VR(tag)
        except KeyError:
            return None

    def _value(self, tag: int, keyword: str):
        """The value pydicom gives for a kept element; pydicom's own when it is not one converted here."""
        if tag in self._values:
            return self._values[tag]
        raw = self._elements.get(tag)
        vr = self._vr(tag) if raw is not None else None
        if raw is None or vr not in CONVERTED_VRS or raw.length % NUMBER_BYTES.get(vr, 1):
            return getattr(self._full(), keyword)
        encodings = self._character_set() if tag != SPECIFIC_CHARACTER_SET else default_encoding
        value = self._converted.convert(vr, raw, encodings)
        self._values[tag] = value
        return value

    def _character_set(self):
        """The encodings of text values, found as pydicom's read_dataset finds them."""
        if self._encodings is None:
            raw = self._elements.get(SPECIFIC_CHARACTER_SET)
            if raw is None:
                self._encodings = default_encoding
            else:
                self._encodings = convert_encodings(convert_value("CS", raw, default_encoding))
        return self._encodings


def differ(raw: RawDataElement | None, other: RawDataElement | None) -> bool:
    if raw is other:
        return False
    return raw is None or other is None or (raw.VR, raw.value) != (other.VR, other.value)


def scan_plain_header(
    path: Path, load_dataset: Callable[[], Any], converted: ConvertedValues, like: PlainHeader | None = None
) -> PlainHeader | None:
    """The header of a plain file, walked without pydicom; None for any other file.

    Plain: a 128-byte preamble and DICM, file meta information with an Implicit or Explicit VR
    Little Endian transfer syntax, and top-level elements in ascending order with lengths that fit
    in the file, up to Pixel Data. `load_dataset` parses the file with pydicom when the header is
    asked something it did not keep. `like`, the header of another file of the series, is followed
    first (see `follow_layout`); the file is walked when it does not match.
    """
    try:
        with open(path, "rb") as f:
            header = None
            if like is not None and like.layout is not None:
                header = follow_layout(f, like.layout, load_dataset, converted)
                f.seek(0)
            if header is None:
                header = walk_header(Cursor(f), load_dataset, converted)
            pixels = header.get_item(PIXEL_DATA, keep_deferred=True)
            if pixels is not None and pixels.length == UNDEFINED_LENGTH and not ends_encapsulated(f):
                return None
            return header
    except (NotPlain, OSError, struct.error, UnicodeDecodeError):
        return None


def ends_encapsulated(f) -> bool:
    """Whether the file ends with the Sequence Delimitation Item that closes compressed pixel data:
    pydicom drops Pixel Data whose file ends before it, and says so; the walk does not read the frames."""
    f.seek(-len(SEQUENCE_DELIMITER), os.SEEK_END)
    return f.read(len(SEQUENCE_DELIMITER)) == SEQUENCE_DELIMITER


def walk_header(cursor: Cursor, load_dataset: Callable[[], Any], converted: ConvertedValues) -> PlainHeader:
    if cursor.take(132)[128:] != b"DICM":
        raise NotPlain("no preamble")
    meta_layout: list[LaidOut] = []
    meta_elements, meta_present, _ = walk_elements(cursor, implicit=False, kept=META_TAGS, meta=True, layout=meta_layout)
    implicit = plain_syntax_is_implicit(meta_elements)
    if implicit is None:
        raise NotPlain("not a little-endian transfer syntax without compression")
    if looks_explicit(cursor.peek(6)) == implicit:
        raise NotPlain("the data set is not encoded as its transfer syntax says")  # pydicom switches
    data_layout: list[LaidOut] = []
    elements, present, stopped_at_pixels = walk_elements(
        cursor, implicit=implicit, kept=KEPT_TAGS, meta=False, layout=data_layout
    )
    layout = None
    if stopped_at_pixels and None not in meta_layout and None not in data_layout:
        header_bytes = elements[PIXEL_DATA].value_tell
        # The header as read, when it all came in the first block (as it does but for large private blobs).
        first = cursor.block[:header_bytes] if cursor.base == 0 and header_bytes <= len(cursor.block) else None
        layout = Layout(
            meta=layout_steps(meta_layout, meta_elements, first),
            data=layout_steps(data_layout, elements, first),
            implicit=implicit,
            meta_present=frozenset(meta_present),
            present=frozenset(present),
            header_bytes=header_bytes,
        )
    return plain_header(
        meta_elements, elements, layout, implicit, meta_present, present, stopped_at_pixels, load_dataset, converted
    )


def layout_steps(laid_out: list[LaidOut], kept: dict[int, RawDataElement], first: bytes | None) -> tuple[Kept | Span, ...]:
    """Kept elements and Pixel Data one by one, the elements between them in Spans (when `first` holds their bytes)."""
    steps: list[Kept | Span] = []
    run: list[LaidOut] = []
    for element in [*laid_out, None]:
        if element is not None and element.tag not in kept:
            run.append(element)
            continue
        if run and first is not None:
            steps.append(Span(first[run[0].at : run[-1].end], tuple(run)))
        elif run:
            steps.extend(Span(None, (each,)) for each in run)
        run = []
        if element is not None:
            # Pixel Data is always read again: a small value differs from file to file.
            whole = first[element.at : element.end] if first is not None and element.tag != PIXEL_DATA else None
            steps.append(Kept(element, whole, kept[element.tag]))
    return tuple(steps)


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


def plain_header(meta_elements, elements, layout, implicit, meta_present, present, stopped_at_pixels, load_dataset, converted):
    file_meta = PlainHeader(meta_elements, meta_present, None, False, None, lambda: load_dataset().file_meta, converted)
    return PlainHeader(
        elements, present, PIXEL_DATA if stopped_at_pixels else None, implicit, file_meta, load_dataset, converted, layout
    )


def follow_layout(f, layout: Layout, load_dataset: Callable[[], Any], converted: ConvertedValues) -> PlainHeader | None:
    """The header of a file laid out as another: the same elements in the same order; None when it is not.

    The files of a series repeat one another's elements; only some values differ (UIDs, positions,
    times), and with them some lengths. Following the other file's layout compares each element's
    tag, VR and length with one comparison of bytes instead of decoding them: every element must
    have the same tag and VR, and sequences of undefined length the very same bytes. A length that
    differs is read, as a walk would read it. What this gives is what `walk_header` gives for the
    same file; anything else (another element, a length running past what was read) gives None.
    """
    block = f.read(max(READ_BYTES, layout.header_bytes + FOLLOW_SLACK_BYTES))
    if block[128:132] != b"DICM":
        return None
    meta_elements: dict[int, RawDataElement] = {}
    elements: dict[int, RawDataElement] = {}
    at = follow_elements(block, 132, layout.meta, False, META_TAGS, meta_elements)
    if at is None or plain_syntax_is_implicit(meta_elements) is not layout.implicit:
        return None
    if looks_explicit(block[at : at + 6]) == layout.implicit:
        return None
    if follow_elements(block, at, layout.data, layout.implicit, KEPT_TAGS, elements) is None:
        return None
    return plain_header(
        meta_elements, elements, layout, layout.implicit, layout.meta_present, layout.present, True, load_dataset, converted
    )


def follow_elements(block: bytes, at: int, steps: tuple, implicit: bool, kept: frozenset, into: dict) -> int | None:
    """Follow a layout's steps through `block` from `at`, keeping the raw kept elements; where it ends, or None."""
    for step in steps:
        if type(step) is Span:
            if step.whole is not None and block.startswith(step.whole, at):
                at += len(step.whole)
                continue
            at = follow_each(block, at, step.elements, implicit, kept, into)
        elif step.whole is not None and block.startswith(step.whole, at):
            # The same bytes: the same raw element, moved when an element before it changed length.
            raw, moved_by = step.raw, at - step.element.at
            into[step.element.tag] = raw._replace(value_tell=raw.value_tell + moved_by) if moved_by else raw
            at += len(step.whole)
        else:
            at = follow_each(block, at, (step.element,), implicit, kept, into)
        if at is None:
            return None
    return at


def follow_each(block: bytes, at: int, laid_out: tuple[LaidOut, ...], implicit: bool, kept: frozenset, into: dict) -> int | None:
    """Follow elements one by one: each with the same tag and VR, a length that may differ."""
    size = len(block)
    for tag, vr, header, length, sequence, _ in laid_out:
        value_at = at + len(header)
        if not block.startswith(header, at):
            # Only the length may differ, and not that of a sequence of undefined length or of Pixel Data.
            fixed = 4 if implicit else len(header) - (4 if len(header) == 12 else 2)
            if sequence is not None or tag == PIXEL_DATA or value_at > size or not block.startswith(header[:fixed], at):
                return None
            length = int.from_bytes(block[at + fixed : value_at], "little")
            if length == UNDEFINED_LENGTH:
                return None
        if sequence is not None:
            if not block.startswith(sequence, value_at):
                return None
            at = value_at + len(sequence)
            continue
        if tag == PIXEL_DATA:
            value = block[value_at : value_at + length] if length <= 1024 else None
            if value is not None and len(value) < length:
                return None
            into[tag] = RawDataElement(BaseTag(tag), vr, length, value, value_at, implicit, True)
            return value_at
        if value_at + length > size:
            return None
        if tag in kept:
            into[tag] = RawDataElement(BaseTag(tag), vr, length, block[value_at : value_at + length], value_at, implicit, True)
        at = value_at + length
    return at


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
