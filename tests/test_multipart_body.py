"""The upload handler parses multipart bodies itself (volumes/multipart_body.py): whatever the sizes the
body arrives in, it reads the same fields and files as Django's own parser, refuses what it cannot
read with a 400, and stores nothing of a body cut short."""
import io
import zipfile
from base64 import b64encode

import pytest
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.test import RequestFactory

from volumes.multipart_body import MultipartBody
from volumes.upload_handlers import StagingUploadHandler, UploadCut

from .conftest import SEED_FILE

BOUNDARY = "----a-boundary-1234"


class Trickle(io.BytesIO):
    """A request body that arrives at most `piece` bytes a read, as a slow connection delivers it."""

    def __init__(self, data: bytes, piece: int) -> None:
        super().__init__(data)
        self.piece = piece

    def read(self, size=-1):
        return super().read(self.piece if size is None or size < 0 else min(size, self.piece))


def part(name: str, data: bytes, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    kind = "Content-Type: application/octet-stream\r\n" if filename is not None else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{kind}{extra}\r\n".encode() + data + b"\r\n"


def body_of(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    return preamble + b"".join(parts) + f"--{BOUNDARY}--\r\n".encode() + epilogue


def small_zip() -> bytes:
    """Three stored entries (the seed slice's first bytes, one holding CRLFs and dashes) and a deflated one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.dcm", SEED_FILE.read_bytes()[:3000])
        archive.writestr("b.dcm", b"\r\n--" * 200)
        archive.writestr("c.dcm", SEED_FILE.read_bytes()[-3000:])
        archive.writestr("d.txt", b"deflated " * 100, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def meta(body: bytes) -> dict:
    return {"CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(len(body))}


def parse_ours(body: bytes, piece: int) -> tuple[QueryDict, dict[str, list[bytes]]]:
    handler = StagingUploadHandler()
    post, files = handler.handle_raw_input(Trickle(body, piece), meta(body), len(body), BOUNDARY.encode(), "utf-8")
    contents = {}
    for name, uploaded in files.lists():
        contents[name] = [(f.name, read_staged(f)) for f in uploaded]
        for f in uploaded:
            f.close()
    return post, contents


def read_staged(uploaded) -> bytes:
    """An uploaded file's bytes as the service sees them: a zip with its split-out entries put back."""
    data = bytearray(uploaded.read())
    for offset, entry in (uploaded.split_entries or {}).items():
        start = offset + 30 + len(entry.name.encode()) + int.from_bytes(data[offset + 28 : offset + 30], "little")
        data[start : start + entry.size] = entry.path.read_bytes()
    return bytes(data)


def parse_django(body: bytes) -> tuple[QueryDict, dict[str, list[bytes]]]:
    request = RequestFactory().generic("POST", "/", body, content_type=meta(body)["CONTENT_TYPE"])
    post, files = MultiPartParser(request.META, io.BytesIO(body), [MemoryFileUploadHandler()], "utf-8").parse()
    return post, {name: [(f.name, f.read()) for f in uploaded] for name, uploaded in files.lists()}


FORMS = {
    "fields and files": body_of(
        part("mode", b"normalized"),
        part("threshold", b"0.5"),
        part("files", SEED_FILE.read_bytes()[:5000], "1-101.dcm"),
        part("files", b"\r\n--" + BOUNDARY.encode()[:-1] + b"\r\n\r\n", "nearly-a-boundary.bin"),
        part("files", b"", "empty.dcm"),
        part("files", small_zip(), "series.zip"),
        part("note", "é ünïcode".encode()),
    ),
    "a preamble and an epilogue": body_of(part("files", b"data", "a.dcm"), preamble=b"ignore me\r\n", epilogue=b"and me"),
    "names with folders and an empty file name": body_of(
        part("files", b"kept", "dir/sub\\x.dcm"), part("files", b"dropped", ""), part("files", b"dropped", "..")
    ),
    "a field in base64 and parts without a name": body_of(
        part("threshold", b64encode(b"0.25"), extra="Content-Transfer-Encoding: base64\r\n"),
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n".encode(),
        f"--{BOUNDARY}\r\n\r\nno headers at all\r\n".encode(),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 30])
def test_every_piece_size_reads_what_djangos_parser_reads(form, piece):
    body = FORMS[form]
    post, files = parse_ours(body, piece)
    expected_post, expected_files = parse_django(body)
    assert post == expected_post and not post._mutable
    assert files == expected_files


@pytest.mark.django_db
def test_a_zip_arriving_a_byte_at_a_time_still_has_its_entries_split_out():
    archive = small_zip()
    body = body_of(part("files", archive, "series.zip"))
    handler = StagingUploadHandler()
    _, files = handler.handle_raw_input(Trickle(body, 1), meta(body), len(body), BOUNDARY.encode(), "utf-8")
    (uploaded,) = files.getlist("files")
    with zipfile.ZipFile(io.BytesIO(archive)) as expected:
        assert sorted(e.name for e in uploaded.split_entries.values()) == ["a.dcm", "b.dcm", "c.dcm"]
        for entry in uploaded.split_entries.values():
            assert entry.path.read_bytes() == expected.read(entry.name)
    uploaded.close()


@pytest.mark.django_db
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.99])
def test_a_body_cut_anywhere_is_refused_and_its_files_deleted(keep, private_media):
    body = FORMS["fields and files"]
    arrived = body[: int(len(body) * keep)]
    handler = StagingUploadHandler()
    with pytest.raises(UploadCut) as cut:
        handler.handle_raw_input(Trickle(arrived, 4096), meta(body), len(body), BOUNDARY.encode(), "utf-8")
    assert str(cut.value) == (
        f"the upload was cut off: {len(arrived):,} of its {len(body):,} bytes arrived before the connection ended: send it again"
    )
    assert [p for p in private_media.rglob("*") if p.is_file()] == []


@pytest.mark.django_db
def test_a_body_longer_than_said_is_read_only_to_its_length():
    body = body_of(part("files", b"data", "a.dcm"))
    post, files = parse_ours(body + b"the next request", 4096)
    assert files == {"files": [("a.dcm", b"data")]}


@pytest.mark.parametrize(
    "body, message",
    [
        (body_of(part("files", b64encode(b"data"), "a.dcm", "Content-Transfer-Encoding: base64\r\n")), "a file sent in base64"),
        (f"--{BOUNDARY}\r\nX-Long: {'x' * 70_000}\r\n\r\ndata\r\n--{BOUNDARY}--\r\n".encode(), "longer than 65,536 bytes"),
        (b"x" * 70_000 + f"\r\n--{BOUNDARY}--\r\n".encode(), "longer than 65,536 bytes"),
    ],
    ids=["file in base64", "headers too long", "preamble too long"],
)
@pytest.mark.django_db
def test_what_the_parser_cannot_read_is_refused_with_a_reason(body, message, private_media):
    handler = StagingUploadHandler()
    with pytest.raises(MultiPartParserError, match=message):
        handler.handle_raw_input(Trickle(body, 4096), meta(body), len(body), BOUNDARY.encode(), "utf-8")
    assert [p for p in private_media.rglob("*") if p.is_file()] == []


def test_the_events_of_a_body_come_in_order():
    body = body_of(part("a", b"1"), part("b", b"22", "b.bin"))
    reader = MultipartBody(Trickle(body, 3), BOUNDARY.encode(), len(body))
    events = [(kind, bytes(value) if kind == "data" else getattr(value, "disposition", value)) for kind, value in reader.events()]
    joined = []
    for kind, value in events:  # data pieces of one part, joined
        if kind == "data" and joined and joined[-1][0] == "data":
            joined[-1] = ("data", joined[-1][1] + value)
        else:
            joined.append((kind, value))
    assert joined == [
        ("part", {"name": "a"}), ("data", b"1"), ("end", None),
        ("part", {"name": "b", "filename": "b.bin"}), ("data", b"22"), ("end", None),
    ]
    assert reader.complete and reader.bytes_read == len(body)
