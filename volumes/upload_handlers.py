"""Receiving an upload: each file streamed once into the staging folder, hashed as it arrives, and the
whole body refused when it did not arrive whole.

Django's own handlers keep small files in memory and stream large ones to the system's temporary
folder; then the service copied them into storage. Here every file lands in the staging folder, on the
same file system as the media folder, so that `FileSystemStorage.save` moves it into place (a rename)
instead of writing its bytes again, and its SHA-256 is known without reading it back.
"""
from __future__ import annotations

import hashlib
import tempfile
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError

from .services.storing import staging_dir


class UploadCut(MultiPartParserError):
    """The request body ended before it was whole: Django answers 400 (a MultiPartParserError)."""


class StagedUploadedFile(UploadedFile):
    """An uploaded file in the staging folder, with its SHA-256; deleted when closed unless moved."""

    def __init__(self, name, content_type, charset, content_type_extra=None):
        file = tempfile.NamedTemporaryFile(prefix="upload-", suffix=".part", dir=staging_dir())
        super().__init__(file, name, content_type, 0, charset, content_type_extra)
        self.sha256 = ""

    def temporary_file_path(self) -> str:
        return self.file.name

    def close(self):
        try:
            return self.file.close()
        except FileNotFoundError:
            pass  # moved into storage, or renamed to wait for its rows: nothing left to delete


class BodyCounter:
    """The request stream, counting the bytes read and keeping the last few (to see the final boundary)."""

    TAIL_BYTES = 128

    def __init__(self, stream):
        self.stream = stream
        self.bytes_read = 0
        self.tail = b""

    def read(self, size=-1):
        data = self.stream.read(size)
        self.seen(data)
        return data

    def readline(self, size=-1):
        data = self.stream.readline(size)
        self.seen(data)
        return data

    def seen(self, data: bytes) -> None:
        self.bytes_read += len(data)
        self.tail = (self.tail + data)[-self.TAIL_BYTES:]


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
        self.received.append(self.file)

    def receive_data_chunk(self, raw_data, start):
        self.file.write(raw_data)
        self.hash.update(raw_data)
        return None

    def file_complete(self, file_size):
        self.file.seek(0)
        self.file.size = file_size
        self.file.sha256 = self.hash.hexdigest()
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
