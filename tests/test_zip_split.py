"""A zip split as it arrives (imaging.zip_split): stored entries written to files of their own, the
rest kept in the archive file, and unpacking gives what unpacking the archive as it came gives."""
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from volumes.imaging.archives import ArchiveLimits, unpack_sources
from volumes.imaging.digests import DigestThread
from volumes.imaging.sources import SourceFile
from volumes.imaging.zip_split import SplitLimits, ZipSplitter

from .conftest import PHANTOM_DIR, SEED_FILE

SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:4]
MANY = SplitLimits(max_entries=1000, max_bytes=1 << 30)


def mixed_zip() -> bytes:
    """Stored slices, a deflated one, a folder entry and an empty file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("series/", b"")
        for path in SLICES[:3]:
            archive.write(path, f"series/{path.name}", compress_type=zipfile.ZIP_STORED)
        archive.write(SLICES[3], f"series/{SLICES[3].name}", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("series/empty.txt", b"")
        archive.write(SEED_FILE, "seed/1-101.dcm", compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def split(raw: bytes, folder: Path, chunk: int, limits: SplitLimits = MANY) -> tuple[Path, dict]:
    folder.mkdir(exist_ok=True)
    archive = folder / "archive.zip"
    with open(archive, "w+b") as f, DigestThread() as digests:
        splitter = ZipSplitter(f, folder, limits, digests)
        for start in range(0, len(raw), chunk):
            splitter.write(raw[start : start + chunk])
        return archive, splitter.close()


def unpacked(sources: list[SourceFile], workdir: Path) -> tuple[dict[str, bytes], list]:
    workdir.mkdir(exist_ok=True)
    files, skipped = unpack_sources(sources, workdir, ArchiveLimits(disk_reserve_bytes=0))
    return {f.name: f.path.read_bytes() for f in files}, [(s.name, s.reason) for s in skipped]


@pytest.mark.parametrize("chunk", [1, 29, 30, 31, 4096, 65536, 1 << 24])
def test_stored_entries_are_split_out_and_the_archive_keeps_the_rest_at_its_offsets(tmp_path, chunk):
    raw = mixed_zip()
    archive, entries = split(raw, tmp_path / "split", chunk)
    kept = archive.read_bytes()
    assert len(kept) == len(raw)
    names = sorted(entry.name for entry in entries.values())
    assert names == ["seed/1-101.dcm", *(f"series/{p.name}" for p in SLICES[:3])]
    whole = bytearray(kept)
    with zipfile.ZipFile(io.BytesIO(raw)) as original:
        for member in original.infolist():
            entry = entries.get(member.header_offset)
            if entry is None:
                continue
            data = entry.path.read_bytes()
            assert data == original.read(member)
            assert (entry.size, entry.crc32) == (len(data), member.CRC)
            assert entry.sha256 == hashlib.sha256(data).hexdigest()
            assert entry.path.stat().st_mode & 0o777 == 0o600
            start = raw.index(data, member.header_offset)
            assert kept[start : start + len(data)] == bytes(len(data))  # a hole where the bytes were
            whole[start : start + len(data)] = data
    assert bytes(whole) == raw


def test_unpacking_a_split_archive_gives_the_files_unpacking_the_archive_gives(tmp_path):
    raw = mixed_zip()
    (tmp_path / "whole.zip").write_bytes(raw)
    archive, entries = split(raw, tmp_path / "split", 65536)
    as_sent, skipped_as_sent = unpacked([SourceFile("a.zip", tmp_path / "whole.zip")], tmp_path / "w1")
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w2")
    assert files == as_sent and skipped == skipped_as_sent
    assert len(files) == 6  # four slices, the empty file, the seed
    (tmp_path / "w3").mkdir()
    taken, _ = unpack_sources([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w3", ArchiveLimits(disk_reserve_bytes=0))
    digests = {f.name: f.sha256 for f in taken}
    assert digests["a.zip/seed/1-101.dcm"] == hashlib.sha256(SEED_FILE.read_bytes()).hexdigest()
    assert digests[f"a.zip/series/{SLICES[3].name}"] == ""  # deflated: extracted, hashed when stored
    assert {f.path for f in taken if f.sha256} == {entry.path for entry in entries.values()}


def test_an_entry_damaged_on_the_way_is_skipped_by_its_crc_and_the_others_kept(tmp_path):
    raw = bytearray(mixed_zip())
    seed = SEED_FILE.read_bytes()
    at = raw.index(seed) + len(seed) // 2
    raw[at] ^= 0xFF
    archive, entries = split(bytes(raw), tmp_path / "split", 65536)
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w")
    assert skipped == [("a.zip/seed/1-101.dcm", "could not be extracted from the zip archive (Bad CRC-32 for file 'seed/1-101.dcm')")]
    assert sorted(files) == sorted(f"a.zip/series/{name}" for name in [*(p.name for p in SLICES), "empty.txt"])


def test_entries_with_a_data_descriptor_are_kept_in_the_archive_as_they_came(tmp_path):
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += b
            return len(b)

    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:  # sizes after the bytes
        for path in SLICES[:2]:
            archive.write(path, path.name)
    raw = bytes(stream.data)
    archive, entries = split(raw, tmp_path / "split", 4096)
    assert entries == {} and archive.read_bytes() == raw
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w")
    assert files == {f"a.zip/{p.name}": p.read_bytes() for p in SLICES[:2]} and skipped == []


def test_past_its_limits_the_splitter_keeps_the_rest_as_it_came(tmp_path):
    raw = mixed_zip()
    archive, entries = split(raw, tmp_path / "split", 65536, SplitLimits(max_entries=2, max_bytes=1 << 30))
    assert len(entries) == 2
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w")
    (tmp_path / "whole.zip").write_bytes(raw)
    assert (files, skipped) == unpacked([SourceFile("a.zip", tmp_path / "whole.zip")], tmp_path / "w2")


def test_bytes_that_are_no_zip_are_kept_as_they_came(tmp_path):
    raw = b"PK\x03\x04" + bytes(range(256)) * 10
    archive, entries = split(raw, tmp_path / "split", 100)
    assert archive.read_bytes() == raw
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w")
    assert files == {} and skipped == [
        ("a.zip", "a zip archive cut short or damaged: its table of contents (central directory) is missing")
    ]


def test_an_archive_cut_inside_an_entry_drops_that_entry(tmp_path):
    raw = mixed_zip()
    seed_at = raw.index(SEED_FILE.read_bytes())
    archive, entries = split(raw[: seed_at + 1000], tmp_path / "split", 4096)
    assert "seed/1-101.dcm" not in {entry.name for entry in entries.values()}
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == sorted(
        ["archive.zip", *(entry.path.name for entry in entries.values())]
    )
    assert archive.stat().st_size == seed_at + 1000
    files, skipped = unpacked([SourceFile("a.zip", archive, split_entries=entries)], tmp_path / "w")
    assert files == {} and skipped == [
        ("a.zip", "a zip archive cut short or damaged: its table of contents (central directory) is missing")
    ]
