"""Zip archives among the sources, unpacked into the files they hold, within a budget.

An archive says how large its files are, but says it freely: the budget counts the bytes actually
written, as they come, and stops an archive the moment it exceeds a limit. Entries whose compressed
bytes overlap (the "overlapping" zip bomb), links, encrypted entries and nesting beyond the depth are
refused, and nothing is written when the disk would fall below its reserve. A stored entry that was
split out to a file of its own as the upload arrived (zip_split) is taken from there, counted the same.
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .sources import Skipped, SourceFile
from .zip_split import SplitEntry

MiB = 1024 * 1024
CHUNK_BYTES = MiB
"""Bytes extracted between two checks of the budget and of the free disk space."""

ZIP_LOCAL_HEADER_BYTES = 30
"""The fixed part of a zip entry's local header, before its name and extra field."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What unpacking one upload (or one `measure` run) may cost; every limit is named in its message."""

    max_bytes: int = 4 * 1024 * MiB
    """Uncompressed bytes written from all archives together (VOLUMES_ARCHIVE_MAX_BYTES)."""
    max_ratio: float = 200.0
    """Uncompressed bytes of an archive over its size on disk, checked past `ratio_floor_bytes` (VOLUMES_ARCHIVE_MAX_RATIO)."""
    ratio_floor_bytes: int = 16 * MiB
    """Below this many bytes from one archive, its ratio is not checked: small files of zeros compress well."""
    max_entries: int = 10_000
    """Files in all archives together (VOLUMES_ARCHIVE_MAX_ENTRIES)."""
    max_depth: int = 3
    """Archives inside archives are opened to this depth (VOLUMES_ARCHIVE_MAX_DEPTH)."""
    disk_reserve_bytes: int = 512 * MiB
    """Free space the disk keeps: unpacking stops before going below it (VOLUMES_DISK_RESERVE_BYTES)."""


class ArchiveOverBudget(Exception):
    """An archive exceeded a limit: it is left out whole, with this message."""


class DiskSpaceLow(Exception):
    """Writing more would take the disk below its reserve: the whole upload is refused (HTTP 507)."""


@dataclass
class Budget:
    limits: ArchiveLimits
    workdir: Path
    bytes_written: int = 0
    entries: int = 0
    counter: int = 0
    written: list[Path] = field(default_factory=list)

    def take_entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveOverBudget(
                f"more than {self.limits.max_entries:,} files in the archives (VOLUMES_ARCHIVE_MAX_ENTRIES): left out whole"
            )

    def take_bytes(self, size: int, archive_written: int, archive_size: int) -> None:
        self.bytes_written += size
        if self.bytes_written > self.limits.max_bytes:
            raise ArchiveOverBudget(
                f"more than {self.limits.max_bytes:,} bytes once unpacked (VOLUMES_ARCHIVE_MAX_BYTES): left out whole"
            )
        ratio = archive_written / max(archive_size, 1)
        if archive_written > self.limits.ratio_floor_bytes and ratio > self.limits.max_ratio:
            raise ArchiveOverBudget(
                f"unpacks to more than {self.limits.max_ratio:g} times its size (VOLUMES_ARCHIVE_MAX_RATIO): "
                "left out whole, as a zip bomb"
            )

    def check_disk(self, size: int) -> None:
        free = shutil.disk_usage(self.workdir).free
        if free - size < self.limits.disk_reserve_bytes:
            raise DiskSpaceLow(
                f"the server's disk is nearly full ({free // MiB:,} MiB free, {self.limits.disk_reserve_bytes // MiB:,} MiB "
                "kept in reserve, VOLUMES_DISK_RESERVE_BYTES): nothing was stored; try again later"
            )

    def new_path(self) -> Path:
        self.counter += 1
        path = self.workdir / f"unpacked-{self.counter}"
        self.written.append(path)
        return path


def unpack_sources(
    sources: Iterable[SourceFile], workdir: Path, limits: ArchiveLimits | None = None
) -> tuple[list[SourceFile], list[Skipped]]:
    """Replace every zip archive among `sources` by the files inside it, extracted under `workdir`.

    Nested archives are opened too, to `limits.max_depth`. Member names are never used as paths on
    disk, so an archive cannot write outside `workdir`. An archive over a limit is left out whole (its
    files deleted) and listed with the limit's name; DiskSpaceLow stops everything.
    """
    budget = Budget(limits=limits or ArchiveLimits(), workdir=workdir)
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    for source in sources:
        if not starts_like_zip(source.path):
            files.append(source)
            continue
        first_written = len(budget.written)
        found: list[SourceFile] = []
        inner_skipped: list[Skipped] = []
        try:
            unpack_archive(source, 1, budget, found, inner_skipped)
        except DiskSpaceLow:
            for path in budget.written:
                path.unlink(missing_ok=True)
            raise
        except ArchiveOverBudget as error:
            for path in budget.written[first_written:]:
                path.unlink(missing_ok=True)
            skipped.append(Skipped(source.name, f"a zip archive with {error}"))
            continue
        files.extend(found)
        skipped.extend(inner_skipped)
    return files, skipped


def unpack_archive(source: SourceFile, depth: int, budget: Budget, files: list[SourceFile], skipped: list[Skipped]) -> None:
    if depth > budget.limits.max_depth:
        skipped.append(
            Skipped(source.name, f"a zip archive nested more than {budget.limits.max_depth} deep (VOLUMES_ARCHIVE_MAX_DEPTH): not opened")
        )
        return
    if not zipfile.is_zipfile(source.path):
        skipped.append(Skipped(source.name, "a zip archive cut short or damaged: its table of contents (central directory) is missing"))
        return
    try:
        with zipfile.ZipFile(source.path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            overlapping = overlapping_entries(members)
            if overlapping:
                raise ArchiveOverBudget(f"entries whose compressed bytes overlap ({overlapping}): refused, as a zip bomb")
            archive_size = source.path.stat().st_size
            archive_written = 0
            for member in sorted(members, key=lambda m: m.filename):
                budget.take_entry()
                name = f"{source.name}/{PurePosixPath(member.filename)}"
                reason = entry_refusal(member)
                if reason:
                    skipped.append(Skipped(name, reason))
                    continue
                split = (source.split_entries or {}).get(member.header_offset)
                if split is not None and split_agrees(split, member):
                    if split.crc32 != member.CRC:
                        skipped.append(Skipped(name, f"could not be extracted from the zip archive (Bad CRC-32 for file {member.filename!r})"))
                        continue
                    archive_written = take_split(split, budget, archive_written, archive_size)
                    target, sha256 = split.path, split.sha256
                else:
                    target, sha256 = budget.new_path(), ""
                    try:
                        archive_written = extract(archive, member, target, budget, archive_written, archive_size)
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as error:
                        target.unlink(missing_ok=True)
                        skipped.append(Skipped(name, f"could not be extracted from the zip archive ({error})"))
                        continue
                inner = SourceFile(name=name, path=target, sha256=sha256)
                if starts_like_zip(target):
                    unpack_archive(inner, depth + 1, budget, files, skipped)
                    target.unlink(missing_ok=True)
                else:
                    files.append(inner)
    except zipfile.BadZipFile as error:
        skipped.append(Skipped(source.name, f"a damaged zip archive ({error})"))


def extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: Budget, archive_written: int, archive_size: int) -> int:
    """Stream one entry to `target`, checking the budget and the disk at every chunk; the bytes so far."""
    with archive.open(member) as src, open(target, "wb") as dst:
        while True:
            budget.check_disk(CHUNK_BYTES)
            chunk = src.read(CHUNK_BYTES)
            if not chunk:
                return archive_written
            archive_written += len(chunk)
            budget.take_bytes(len(chunk), archive_written, archive_size)
            dst.write(chunk)


def split_agrees(split: SplitEntry, member: zipfile.ZipInfo) -> bool:
    """Whether the table of contents describes the entry that was split out at its offset as it arrived."""
    return (
        member.compress_type == zipfile.ZIP_STORED
        and member.compress_size == member.file_size == split.size
        and member.orig_filename == split.name
    )


def take_split(split: SplitEntry, budget: Budget, archive_written: int, archive_size: int) -> int:
    """Count an entry already split out to its own file (zip_split) as if extracted; the bytes so far.

    Nothing more is written, but nothing is taken either while the disk is below its reserve.
    """
    budget.check_disk(0)
    budget.written.append(split.path)
    archive_written += split.size
    budget.take_bytes(split.size, archive_written, archive_size)
    return archive_written


def entry_refusal(member: zipfile.ZipInfo) -> str | None:
    """Why an entry is not extracted: encrypted, or a link (never followed)."""
    if member.flag_bits & 0x1:
        return "encrypted inside the zip archive: send the files without a password"
    mode = member.external_attr >> 16
    if member.create_system == 3 and stat.S_ISLNK(mode):
        return "a symbolic link inside the zip archive: links are not followed"
    return None


def overlapping_entries(members: list[zipfile.ZipInfo]) -> str | None:
    """Two entries whose local headers and compressed bytes share space, named; None when none do."""
    ordered = sorted(members, key=lambda m: m.header_offset)
    for before, after in zip(ordered, ordered[1:]):
        name_bytes = len(before.orig_filename.encode("utf-8" if before.flag_bits & 0x800 else "cp437", "replace"))
        end = before.header_offset + ZIP_LOCAL_HEADER_BYTES + name_bytes + before.compress_size
        if after.header_offset < end:
            return f"{before.filename} and {after.filename}"
    return None


def starts_like_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def is_zip(path: Path) -> bool:
    return starts_like_zip(path) and zipfile.is_zipfile(path)
