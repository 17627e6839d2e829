"""Archives unpacked within a budget: every limit named in its message, hostile zips refused, and the
messages of finding 8 (encrypted, nested too deep, truncated) each saying what happened."""
import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from volumes.imaging.archives import ArchiveLimits, DiskSpaceLow, unpack_sources
from volumes.imaging.sources import SourceFile

from .conftest import SEED_FILE

MiB = 1024 * 1024


def write_zip(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def unpack(path: Path, workdir: Path, **limits):
    workdir.mkdir(exist_ok=True)
    return unpack_sources([SourceFile(name=path.name, path=path)], workdir, ArchiveLimits(**limits))


def reasons(skipped) -> list[tuple[str, str]]:
    return [(s.name, s.reason) for s in skipped]


def overlapping_zip(path: Path, copies: int, size: int) -> Path:
    """One deflated entry and `copies` directory records that all point at it (the overlap zip bomb)."""
    data = b"\0" * size
    packed = zlib.compress(data, 9)[2:-4]  # raw deflate
    crc = zlib.crc32(data)
    name = b"a"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), size, len(name), 0) + name + packed
    central = b""
    for _ in range(copies):
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed), size, len(name), 0, 0, 0, 0, 0, 0
        ) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, copies, copies, len(central), len(local), 0)
    path.write_bytes(local + central + end)
    return path


def test_an_overlapping_zip_bomb_is_refused_before_a_byte_is_written(tmp_path):
    bomb = overlapping_zip(tmp_path / "overlap.zip", copies=100, size=8 * MiB)
    files, skipped = unpack(bomb, tmp_path / "work")
    assert files == []
    assert reasons(skipped) == [("overlap.zip", "a zip archive with entries whose compressed bytes overlap (a and a): refused, as a zip bomb")]
    assert list((tmp_path / "work").iterdir()) == []


def test_the_total_of_uncompressed_bytes_is_counted_as_written_and_named(tmp_path):
    archive = write_zip(tmp_path / "big.zip", {"one.dcm": b"\1" * MiB, "two.dcm": b"\2" * MiB})
    files, skipped = unpack(archive, tmp_path / "work", max_bytes=MiB + 10)
    assert files == []
    assert reasons(skipped) == [
        ("big.zip", f"a zip archive with more than {MiB + 10:,} bytes once unpacked (VOLUMES_ARCHIVE_MAX_BYTES): left out whole")
    ]
    assert list((tmp_path / "work").iterdir()) == []  # the first file, written whole, is removed too


def test_the_ratio_is_checked_on_the_bytes_as_they_come(tmp_path):
    archive = write_zip(tmp_path / "zeros.zip", {"zeros.dcm": b"\0" * (4 * MiB)})
    files, skipped = unpack(archive, tmp_path / "work", max_ratio=10, ratio_floor_bytes=0)
    assert files == []
    assert "unpacks to more than 10 times its size (VOLUMES_ARCHIVE_MAX_RATIO)" in skipped[0].reason


def test_entries_are_counted_over_every_archive(tmp_path):
    archive = write_zip(tmp_path / "many.zip", {f"f{i}.dcm": b"x" for i in range(10)})
    files, skipped = unpack(archive, tmp_path / "work", max_entries=5)
    assert files == []
    assert reasons(skipped) == [("many.zip", "a zip archive with more than 5 files in the archives (VOLUMES_ARCHIVE_MAX_ENTRIES): left out whole")]


def nested_zip(tmp_path: Path, depth: int) -> Path:
    data = SEED_FILE.read_bytes()
    name = "1-101.dcm"
    for level in range(depth):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, data)
        data, name = buffer.getvalue(), f"level{level}.zip"
    path = tmp_path / "nested.zip"
    path.write_bytes(data)
    return path


def test_nesting_to_the_depth_is_opened_and_deeper_is_named(tmp_path):
    files, skipped = unpack(nested_zip(tmp_path, 3), tmp_path / "work")
    assert [f.name for f in files] == ["nested.zip/level1.zip/level0.zip/1-101.dcm"]
    assert files[0].path.read_bytes() == SEED_FILE.read_bytes()
    files, skipped = unpack(nested_zip(tmp_path, 4), tmp_path / "work2")
    assert files == []
    assert reasons(skipped) == [
        ("nested.zip/level2.zip/level1.zip/level0.zip", "a zip archive nested more than 3 deep (VOLUMES_ARCHIVE_MAX_DEPTH): not opened")
    ]


def test_an_encrypted_entry_says_so(tmp_path):
    archive = write_zip(tmp_path / "secret.zip", {"a.dcm": SEED_FILE.read_bytes()}, zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    raw[6] |= 1  # the local header's flag bits
    central = raw.index(b"PK\x01\x02")
    raw[central + 8] |= 1  # the central directory's
    archive.write_bytes(bytes(raw))
    files, skipped = unpack(archive, tmp_path / "work")
    assert reasons(skipped) == [("secret.zip/a.dcm", "encrypted inside the zip archive: send the files without a password")]


def test_a_link_inside_an_archive_is_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("etc-passwd")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
        archive.writestr("1-101.dcm", SEED_FILE.read_bytes())
    files, skipped = unpack(path, tmp_path / "work")
    assert [f.name for f in files] == ["link.zip/1-101.dcm"]
    assert reasons(skipped) == [("link.zip/etc-passwd", "a symbolic link inside the zip archive: links are not followed")]


def test_a_truncated_zip_is_named_a_cut_zip_not_a_dicom_problem(tmp_path):
    whole = write_zip(tmp_path / "whole.zip", {"1-101.dcm": SEED_FILE.read_bytes()}).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    files, skipped = unpack(cut, tmp_path / "work")
    assert files == []
    assert reasons(skipped) == [("cut.zip", "a zip archive cut short or damaged: its table of contents (central directory) is missing")]


def test_unpacking_stops_before_the_disk_goes_below_its_reserve(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"1-101.dcm": SEED_FILE.read_bytes()})
    with pytest.raises(DiskSpaceLow, match=r"VOLUMES_DISK_RESERVE_BYTES"):
        unpack(archive, tmp_path / "work", disk_reserve_bytes=2**62)
    assert list((tmp_path / "work").iterdir()) == []


def test_one_archive_over_budget_loses_nothing_else(tmp_path):
    bomb = overlapping_zip(tmp_path / "overlap.zip", copies=3, size=MiB)
    good = write_zip(tmp_path / "good.zip", {"1-101.dcm": SEED_FILE.read_bytes()})
    (tmp_path / "work").mkdir()
    files, skipped = unpack_sources(
        [SourceFile("overlap.zip", bomb), SourceFile("good.zip", good), SourceFile("1-101.dcm", SEED_FILE)], tmp_path / "work"
    )
    assert [f.name for f in files] == ["good.zip/1-101.dcm", "1-101.dcm"]
    assert [s.name for s in skipped] == ["overlap.zip"]
