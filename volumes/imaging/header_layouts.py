"""Following the layout of a file read before: the files of a series repeat one another's header, so
a file's elements are checked against the other's with comparisons of bytes instead of a walk.

`layout_steps` makes a walked file's layout; `follow_layout_elements` reads another file by it.
"""
from __future__ import annotations

from typing import NamedTuple

from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from .header_elements import (
    KEPT_TAGS,
    META_TAGS,
    PIXEL_DATA,
    READ_BYTES,
    UNDEFINED_LENGTH,
    LaidOut,
    looks_explicit,
    plain_syntax_is_implicit,
)

FOLLOW_SLACK_BYTES = 2048
"""Read this much beyond where the other file's Pixel Data starts when following its layout: room for
a header a little longer (longer UIDs and positions) and for a small Pixel Data value."""


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
    """The elements of a walked file, in order, up to Pixel Data: what `follow_layout_elements` checks another file against.

    Kept elements and Pixel Data are steps of their own; the elements between them are grouped in
    Spans, which another file of the series usually repeats byte for byte.
    """

    meta: tuple[Kept | Span, ...]
    data: tuple[Kept | Span, ...]
    implicit: bool
    meta_present: frozenset[int]
    present: frozenset[int]
    header_bytes: int  # where the value of Pixel Data starts


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


def follow_layout_elements(f, layout: Layout) -> tuple[dict, dict] | None:
    """The raw kept elements (file meta, data set) of a file laid out as another; None when it is not.

    The files of a series repeat one another's elements; only some values differ (UIDs, positions,
    times), and with them some lengths. Following the other file's layout compares each element's
    tag, VR and length with one comparison of bytes instead of decoding them: every element must
    have the same tag and VR, and sequences of undefined length the very same bytes. A length that
    differs is read, as a walk would read it. What this gives is what a walk gives for the same
    file; anything else (another element, a length running past what was read) gives None.
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
    return meta_elements, elements


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

