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
from pydicom.values import convert_value

from .header_elements import (
    KEPT_TAGS,
    META_TAGS,
    PIXEL_DATA,
    SEQUENCE_DELIMITER,
    SPECIFIC_CHARACTER_SET,
    UNDEFINED_LENGTH,
    Cursor,
    LaidOut,
    NotPlain,
    looks_explicit,
    plain_syntax_is_implicit,
    walk_elements,
)
from .header_layouts import Layout, follow_layout_elements, layout_steps

CONVERTED_VRS = frozenset(("AS", "CS", "DA", "DS", "FD", "FL", "IS", "LO", "SH", "SL", "SS", "TM", "UI", "UL", "US"))
"""VRs whose values are converted here (by pydicom's converter); others are left to pydicom."""
NUMBER_BYTES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8}

MAX_CONVERTED = 8192
"""ConvertedValues forgets all it holds when it reaches this many values (values unique to each file add up)."""


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
        self.file_bytes: int | None = None  # the file's size, when `scan_plain_header` read it
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
        for tag, raw in mine.items():  # a loop, not any(): called for every file of a series
            other_raw = theirs[tag]
            if raw is not other_raw and (raw.value != other_raw.value or raw.VR != other_raw.VR) and tag not in ignoring:
                return True
        return False

    def kept(self, tag: int) -> RawDataElement | None:
        """A kept element as read (tag, VR and bytes), or None when the file does not hold it."""
        return self._elements.get(tag)

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
            header.file_bytes = os.fstat(f.fileno()).st_size
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


def plain_header(meta_elements, elements, layout, implicit, meta_present, present, stopped_at_pixels, load_dataset, converted):
    file_meta = PlainHeader(meta_elements, meta_present, None, False, None, lambda: load_dataset().file_meta, converted)
    return PlainHeader(
        elements, present, PIXEL_DATA if stopped_at_pixels else None, implicit, file_meta, load_dataset, converted, layout
    )


def follow_layout(f, layout: Layout, load_dataset: Callable[[], Any], converted: ConvertedValues) -> PlainHeader | None:
    """The header of a file laid out as another (`header_layouts.follow_layout_elements`); None when it is not."""
    followed = follow_layout_elements(f, layout)
    if followed is None:
        return None
    meta_elements, elements = followed
    return plain_header(
        meta_elements, elements, layout, layout.implicit, layout.meta_present, layout.present, True, load_dataset, converted
    )
