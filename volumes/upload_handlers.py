"""Receiving an upload: each file streamed once into the staging folder, hashed as it arrives, and the
whole body refused when it did not arrive whole.

Django's own handlers keep small files in memory and stream large ones to the system's temporary
folder; then the service copied them into storage. Here every file lands in the staging folder, on the
same file system as the media folder, so that storing it is a rename instead of writing its bytes
again, and its SHA-256 is known without reading it back. A zip archive's stored entries are written
to files of their own as they arrive (imaging.zip_split), hashed on the way, so that unpacking it
writes nothing again; the archive itself is not hashed (it is never stored).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError

from .imaging.zip_split import LOCAL_SIGNATURE, SplitEntry, SplitLimits, ZipSplitter
from .services.scanning import archive_limits
from .services.storing import staging_dir


class UploadCut(MultiPartParserError):
    """The request body ended before it was whole: Django answers 400 (a MultiPartParserError)."""


class StagedUploadedFile(UploadedFile):
    """An uploaded file in the staging folder, with its SHA-256 (or, for a zip archive, its entries split
    out to a folder beside it); deleted when closed unless moved, with what is left of that folder."""

    def __init__(self, name, content_type, charset, content_type_extra=None):
        file = tempfile.NamedTemporaryFile(prefix="upload-", suffix=".part", dir=staging_dir())
        super().__init__(file, name, content_type, 0, charset, content_type_extra)
        self.sha256 = ""
        self.split_entries: dict[int, SplitEntry] | None = None
        self.entries_folder: Path | None = None

    def temporary_file_path(self) -> str:
        return self.file.name

    def new_entries_folder(self) -> Path:
        self.entries_folder = Path(tempfile.mkdtemp(prefix="upload-", suffix=".entries", dir=staging_dir()))
        return self.entries_folder

    def close(self):
        if self.entries_folder is not None:
            shutil.rmtree(self.entries_folder, ignore_errors=True)  # the entries stored were moved out of it
        try:
            return self.file.close()
        except FileNotFoundError:
            pass  # moved into storage, or renamed to wait for its rows: nothing left to delete


class BodyCounter:
    """The request stream, read in large pieces and handed out in the sizes asked; counting the bytes
    read and keeping the last few (to see the final boundary).

    Django's parser asks for a chunk (64 KiB) at a time. Gunicorn's body reader copies what it holds
    ahead (up to 1 MiB) on every read: read 64 KiB at a time, a large body cost it many times the
    CPU it costs read READ_BYTES at a time (README: "An upload, piece by piece").
    """

    READ_BYTES = 4 * 1024 * 1024
    TAIL_BYTES = 128

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0
        self.tail = b""
        self.ahead = memoryview(b"")  # read from the stream, not yet handed out

    def read(self, size=-1):
        if size is None or size < 0:
            rest = self.stream.read()
            self.seen(rest)
            rest, self.ahead = bytes(self.ahead) + rest, memoryview(b"")
            return rest
        if not self.ahead:
            data = self.stream.read(max(size, self.READ_BYTES))
            self.seen(data)
            if len(data) <= size:
                return data
            self.ahead = memoryview(data)
        taken, self.ahead = self.ahead[:size], self.ahead[size:]
        return bytes(taken)

    def readline(self, size=-1):
        """A line of at most `size` bytes, from what was read ahead first."""
        line = b""
        while not line.endswith(b"\n") and (size is None or size < 0 or len(line) < size):
            wanted = -1 if size is None or size < 0 else size - len(line)
            if not self.ahead:
                rest = self.stream.readline(wanted)
                self.seen(rest)
                return line + rest
            limit = len(self.ahead) if wanted < 0 else min(wanted, len(self.ahead))
            newline = bytes(self.ahead[:limit]).find(b"\n")
            line += self.read(limit if newline < 0 else newline + 1)
        return line

    def seen(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self.tail = (self.tail + data[-self.TAIL_BYTES :])[-self.TAIL_BYTES :]


class StagingUploadHandler(FileUploadHandler):
    """Streams every file of a multipart body into the staging folder, hashing it on the way.

    When the body ends before its Content-Length or without the multipart's final boundary (a client
    that stopped or a connection cut), the files already received are deleted and UploadCut is raised:
    nothing of a cut upload is stored or measured.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.counter: BodyCounter | None = None
        self.body_length = 0
        self.boundary = b""
        self.interrupted = False
        self.received: list[StagedUploadedFile] = []
        self.split_room: SplitLimits | None = None  # what the archives of this request may still split out

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.body_length = content_length
        self.boundary = boundary if isinstance(boundary, bytes) else str(boundary).encode("ascii")
        # Django's HttpRequest reads its body from `_stream`; count what comes through it.
        if hasattr(input_data, "_stream"):
            self.counter = BodyCounter(input_data._stream)
            input_data._stream = self.counter
        return None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = StagedUploadedFile(self.file_name, self.content_type, self.charset, self.content_type_extra)
        self.hash = hashlib.sha256()
        self.splitter: ZipSplitter | None = None
        self.first_bytes = b""  # until there are enough to tell a zip archive
        self.received.append(self.file)

    def receive_data_chunk(self, raw_data, start):
        if self.first_bytes is not None:
            self.first_bytes += raw_data
            if len(self.first_bytes) < len(LOCAL_SIGNATURE):
                return None
            raw_data, self.first_bytes = self.first_bytes, None
            if raw_data.startswith(LOCAL_SIGNATURE):
                if self.split_room is None:
                    limits = archive_limits()  # the budget of the whole upload, as unpacking counts it
                    self.split_room = SplitLimits(limits.max_entries, limits.max_bytes)
                self.splitter = ZipSplitter(self.file.file, self.file.new_entries_folder(), self.split_room)
        if self.splitter is not None:
            self.splitter.write(raw_data)
        else:
            self.file.write(raw_data)
            self.hash.update(raw_data)
        return None

    def file_complete(self, file_size):
        if self.first_bytes:  # shorter than a zip signature
            self.file.write(self.first_bytes)
            self.hash.update(self.first_bytes)
        if self.splitter is not None:
            self.file.split_entries = self.splitter.close()
            self.split_room = SplitLimits(
                self.split_room.max_entries - len(self.file.split_entries),
                self.split_room.max_bytes - self.splitter.split_bytes,
            )
        else:
            self.file.sha256 = self.hash.hexdigest()
        self.file.seek(0)
        self.file.size = file_size
        return self.file

    def upload_interrupted(self):
        self.interrupted = True

    def upload_complete(self):
        problem = self.cut_reason()
        if problem:
            for file in self.received:
                file.close()
            raise UploadCut(problem)

    def cut_reason(self) -> str | None:
        if self.counter is None:
            return "the upload was cut off before its end: send it again" if self.interrupted else None
        whole = (
            not self.interrupted
            and self.counter.bytes_read == self.body_length
            and self.counter.tail.rstrip(b"\r\n").endswith(b"--" + self.boundary + b"--")
        )
        if whole:
            return None
        return (
            f"the upload was cut off: {self.counter.bytes_read:,} of its {self.body_length:,} bytes arrived "
            "before the connection ended: send it again"
        )
