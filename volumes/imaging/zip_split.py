"""Splitting a zip archive as it arrives: each stored entry's bytes go straight to a file of their own.

An upload's bytes are then written once. The archive file keeps its local headers, its compressed
entries and its table of contents at their offsets, with a hole (nothing written) where each stored
entry's bytes were; those bytes go to the entry's own file, hashed on the way (the CRC-32 here, the
SHA-256 on the digest thread: digests.py).
Unpacking (`archives.unpack_sources`) reads the table of contents as ever and takes an entry's file
instead of extracting it when the table agrees with what arrived (offset, name, size), checking its
CRC-32 as extracting would. The CRC-32 is ISA-L's (isal), the same value as zlib's in a quarter of the
time (README: "An upload, piece by piece").

Local headers are followed one after the other from the first byte. Where that stops being possible
(a data descriptor, whose sizes come after the bytes; Zip64 sizes; anything that is not a local
header, such as the table of contents), the rest is written to the archive file as it came, so
nothing is lost: those entries are extracted from it as before.
"""
from __future__ import annotations

import os
import struct
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

from isal.isal_zlib import crc32

from .digests import Digest, DigestThread

LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
"""A zip entry's local header before its name and extra field (APPNOTE 4.3.7), as zipfile reads it."""
LOCAL_SIGNATURE = b"PK\x03\x04"
ENCRYPTED = 0x1
DATA_DESCRIPTOR = 0x8
UTF8_NAME = 0x800
ZIP64_SIZE = 0xFFFFFFFF
STORED = 0

HEADER, ENTRY, COPY, REST = "header", "entry", "copy", "rest"
"""What the next bytes are: a local header, a stored entry's bytes, other entry bytes, anything else."""


@dataclass(frozen=True)
class SplitEntry:
    """A stored entry written to a file of its own as the archive arrived."""

    header_offset: int
    name: str
    """Decoded as zipfile decodes names (UTF-8 when flagged, else cp437)."""
    size: int
    crc32: int
    sha256: str
    path: Path


@dataclass(frozen=True)
class SplitLimits:
    """At most this many entries and bytes are split out; past them the rest is written as it came
    (and unpacking refuses the archive by its own budget)."""

    max_entries: int
    max_bytes: int


class ZipSplitter:
    """Takes an archive's bytes in order (`write`) and writes them to `archive` (a binary file at offset 0)
    with its stored entries split out to files in `folder` (created 0600), their SHA-256 computed on
    `digests`; `close` gives them by offset."""

    def __init__(self, archive, folder: Path, limits: SplitLimits, digests: DigestThread) -> None:
        self.archive = archive
        self.folder = folder
        self.limits = limits
        self.digests = digests
        self.entries: dict[int, tuple[SplitEntry, Future]] = {}  # each with its SHA-256 to come
        self.split_bytes = 0
        self.offset = 0  # archive bytes taken so far
        self.state = HEADER
        self.header = bytearray()  # the local header being gathered
        self.remaining = 0  # bytes left of the entry being copied or split out
        self.entry_file = None
        self.entry_path = Path()
        self.entry_start: tuple[int, str, int] = (0, "", 0)  # header offset, name, size
        self.sha256: Digest | None = None
        self.crc32 = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.state == REST:
                self._keep(view)
                return
            if self.state == HEADER:
                view = self._gather_header(view)
                continue
            taken, view = view[: self.remaining], view[self.remaining :]
            if self.state == ENTRY:
                self.entry_file.write(taken)
                self.sha256.update(taken)
                self.crc32 = crc32(taken, self.crc32)
                self.archive.seek(len(taken), os.SEEK_CUR)  # a hole in the archive file
                self.offset += len(taken)
            else:
                self._keep(taken)
            self.remaining -= len(taken)
            if self.remaining == 0:
                if self.state == ENTRY:
                    self._entry_done()
                self.state = HEADER

    def close(self) -> dict[int, SplitEntry]:
        """The entries split out, by the offset of their local header; an entry cut short is dropped."""
        if self.entry_file is not None:
            self.entry_file.close()
            self.entry_file = None
            self.entry_path.unlink(missing_ok=True)
        if self.header:
            self._keep(memoryview(bytes(self.header)))
            self.header.clear()
        self.archive.truncate(self.offset)  # a hole at the end still counts in the archive's length
        return {offset: replace(entry, sha256=sha256.result()) for offset, (entry, sha256) in self.entries.items()}

    def _keep(self, view: memoryview) -> None:
        self.archive.write(view)
        self.offset += len(view)

    def _gather_header(self, view: memoryview) -> memoryview:
        if len(self.header) < LOCAL_HEADER.size:
            taken = LOCAL_HEADER.size - len(self.header)
            self.header += view[:taken]
            view = view[taken:]
            if len(self.header) < LOCAL_HEADER.size:
                return view
            if self.header[:4] != LOCAL_SIGNATURE:
                self._rest()
                return view
        name_and_extra = int.from_bytes(self.header[26:28], "little") + int.from_bytes(self.header[28:30], "little")
        taken = LOCAL_HEADER.size + name_and_extra - len(self.header)
        self.header += view[:taken]
        view = view[taken:]
        if len(self.header) == LOCAL_HEADER.size + name_and_extra:
            self._header_done()
        return view

    def _rest(self) -> None:
        header = bytes(self.header)
        self.header.clear()
        self.state = REST
        self._keep(memoryview(header))

    def _header_done(self) -> None:
        _, _, _, flags, method, _, _, _, compress_size, file_size, name_length, _ = LOCAL_HEADER.unpack_from(self.header)
        if flags & DATA_DESCRIPTOR or ZIP64_SIZE in (compress_size, file_size):
            self._rest()  # where this entry ends is not known from its header
            return
        header_offset = self.offset
        raw_name = bytes(self.header[LOCAL_HEADER.size : LOCAL_HEADER.size + name_length])
        name = raw_name.decode("utf-8" if flags & UTF8_NAME else "cp437", "replace")
        self._keep(memoryview(bytes(self.header)))
        self.header.clear()
        self.remaining = compress_size
        split = (
            method == STORED
            and not flags & ENCRYPTED
            and compress_size == file_size > 0
            and not name.endswith("/")
            and len(self.entries) < self.limits.max_entries
            and self.split_bytes + file_size <= self.limits.max_bytes
        )
        if not split:
            self.state = COPY if compress_size else HEADER
            return
        self.entry_path = self.folder / f"entry-{header_offset}"
        self.entry_file = os.fdopen(os.open(self.entry_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self.entry_start = (header_offset, name, file_size)
        self.sha256 = self.digests.digest()
        self.crc32 = 0
        self.state = ENTRY

    def _entry_done(self) -> None:
        header_offset, name, size = self.entry_start
        self.entry_file.close()
        self.entry_file = None
        entry = SplitEntry(header_offset=header_offset, name=name, size=size, crc32=self.crc32, sha256="", path=self.entry_path)
        self.entries[header_offset] = (entry, self.sha256.hexdigest())
        self.split_bytes += size
