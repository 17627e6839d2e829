"""Header values as Python numbers and strings, or None when absent or malformed."""
from __future__ import annotations

import re

import pydicom
from pydicom import config
from pydicom.multival import MultiValue


def read_floats(ds: pydicom.Dataset | None, keyword: str, count: int | None = None) -> tuple[tuple[float, ...] | None, str]:
    """A multi-valued decimal element as floats, or None (and its raw text) when absent or malformed."""
    if ds is None or keyword not in ds:
        return None, ""
    try:
        value = ds[keyword].value
    except Exception:
        return None, "unreadable"
    if value is None or value == "":
        return None, ""
    items = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    raw = "\\".join(str(v) for v in items)
    try:
        floats = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None, raw
    if not floats or (count is not None and len(floats) != count):
        return None, raw
    return floats, raw


def read_strings(ds: pydicom.Dataset, keyword: str) -> list[str]:
    """A multi-valued text element as a list of strings; empty when absent."""
    value = ds.get(keyword)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple, MultiValue)) else [str(value)]


def optional_float(ds: pydicom.Dataset | None, keyword: str) -> float | None:
    values, _ = read_floats(ds, keyword)
    return values[0] if values else None


def optional_int(ds: pydicom.Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if isinstance(value, (list, tuple, MultiValue)):
            value = value[0] if value else None
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def first_item(ds: pydicom.Dataset, keyword: str) -> pydicom.Dataset | None:
    sequence = ds.get(keyword) if ds is not None else None
    return sequence[0] if sequence else None


PLAIN_DECIMAL = re.compile(rb" *[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)? *")
"""A DS value pydicom reads without a warning (its regular expression, in ASCII digits)."""
PLAIN_INTEGER = re.compile(rb" *[-+]?[0-9]+ *")
"""An IS value pydicom reads without a warning."""


def plain_decimals(value: bytes | None) -> tuple[float, ...] | None:
    """The numbers of a DS element's bytes when each is plain (matches PLAIN_DECIMAL in at most 16
    characters): then pydicom's values are `float` of the same text. None for anything else (empty,
    padded with nulls inside, malformed, or pydicom set to give numpy values), which pydicom must read."""
    if not value or config.use_DS_numpy:
        return None
    items = value.strip(b" ").rstrip(b" \0").split(b"\\")
    if not all(len(item) <= 16 and PLAIN_DECIMAL.fullmatch(item) for item in items):
        return None
    return tuple(float(item) for item in items)


def plain_integer(value: bytes | None) -> int | None:
    """The first number of an IS element's bytes when every number is plain (matches PLAIN_INTEGER in
    at most 12 characters), as `optional_int` gives it; None for anything else, which pydicom must read."""
    if not value or config.use_IS_numpy:
        return None
    items = value.rstrip(b" \0").split(b"\\")
    if not all(len(item) <= 12 and PLAIN_INTEGER.fullmatch(item) for item in items):
        return None
    return int(items[0])
