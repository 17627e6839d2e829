"""Receiving an upload: each file streamed once into the staging folder, hashed as it arrives, and the
whole body refused when it did not arrive whole.

Django's own handlers keep small files in memory and stream large ones to the system's temporary
folder; then the service copied them into storage. Here every file lands in the staging folder, on the
same file system as the media folder, so that storing it is a rename instead of writing its bytes
again, and its SHA-256 is known without reading it back. A zip archive's stored entries are written
to files of their own as they arrive (imaging.zip_split), hashed on the way, so that unpacking it
writes nothing again; the archive itself is not hashed (it is never stored). The body is parsed here
(multipart_body, in 4 MiB blocks), not by Django's parser, which hands a handler 64 KiB at a time;
under gunicorn those blocks come straight from the socket (socket_body).
"""
from __future__ import annotations

import binascii
import contextlib
import shutil
import tempfile
from base64 import b64decode
from pathlib import Path

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http import QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str

from .imaging.digests import DigestThread
from .imaging.zip_split import LOCAL_SIGNATURE, SplitEntry, SplitLimits, ZipSplitter
from .multipart_body import BodyRefused, MultipartBody, PartHeaders
from .services.scanning import archive_limits
from .services.storing import staging_dir
from .socket_body import GunicornSocketBody


FIELD, FILE, IGNORED = "field", "file", "ignored"
"""What a part of the body is."""


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


class StagingUploadHandler(FileUploadHandler):
    """Reads a multipart body itself (`handle_raw_input`, in large blocks: multipart_body) and streams
    every file into the staging folder, hashing it on the way.

    When the body ends before its Content-Length or without the multipart's final boundary (a client
    that stopped or a connection cut), the files already received are deleted and UploadCut is raised:
    nothing of a cut upload is stored or measured.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received: list[StagedUploadedFile] = []
        self.split_room: SplitLimits | None = None  # what the archives of this request may still split out
        self.digests: DigestThread | None = None  # hashes the files while the body is read

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        """Parse the whole body here (multipart_body), instead of Django's parser: the form's fields
        and files, or UploadCut (every file received deleted) when the body did not arrive whole."""
        boundary = boundary if isinstance(boundary, bytes) else str(boundary).encode("ascii")
        body = MultipartBody(GunicornSocketBody.of(META, content_length) or input_data, boundary, content_length)
        try:
            with DigestThread() as self.digests:
                form = self.read_parts(body, encoding or settings.DEFAULT_CHARSET)
        except UnreadablePostError:  # the connection failed while the body was read: cut, as below
            form = None
        except BaseException:
            self.discard_received()
            raise
        if form is None or not body.complete:
            self.discard_received()
            raise UploadCut(
                f"the upload was cut off: {body.bytes_read:,} of its {content_length:,} bytes arrived "
                "before the connection ended: send it again"
            )
        return form

    def read_parts(self, body: MultipartBody, encoding: str) -> tuple[QueryDict, MultiValueDict]:
        """The fields and files of a multipart body, under the limits Django's parser applies
        (DATA_UPLOAD_MAX_NUMBER_FIELDS, DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FILES)."""
        post, files = QueryDict(mutable=True, encoding=encoding), MultiValueDict()
        fields = files_sent = field_bytes = 0
        kind, name, size, chunks, base64 = IGNORED, "", 0, [], False
        for event, value in body.events():
            if event == "part":
                kind, size, chunks, base64 = part_kind(value), 0, [], value.transfer_encoding == "base64"
                name = force_str(value.disposition.get("name", "").strip(), encoding, errors="replace")
                if kind == FIELD:
                    fields += 1
                    if settings.DATA_UPLOAD_MAX_NUMBER_FIELDS is not None and fields > settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 2:
                        raise TooManyFieldsSent("The number of POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.")
                    field_bytes += len(name) + 2
                elif kind == FILE:
                    files_sent += 1
                    if settings.DATA_UPLOAD_MAX_NUMBER_FILES is not None and files_sent > settings.DATA_UPLOAD_MAX_NUMBER_FILES:
                        raise TooManyFilesSent("The number of files exceeded settings.DATA_UPLOAD_MAX_NUMBER_FILES.")
                    file_name = sanitized_file_name(force_str(value.disposition["filename"], encoding, errors="replace"))
                    if base64:
                        raise BodyRefused("a file sent in base64 (Content-Transfer-Encoding): send its bytes as they are")
                    if file_name is None:
                        kind = IGNORED
                    else:
                        params = value.content_type_params
                        self.new_file(name, file_name, value.content_type, None, params.get("charset"), params)
            elif event == "data" and kind != IGNORED:
                if kind == FILE:
                    self.receive_data_chunk(value, size)
                else:
                    field_bytes += len(value)
                    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None and field_bytes > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
                    chunks.append(bytes(value))
                size += len(value)
            elif event == "end":
                if kind == FILE:
                    files.appendlist(name, self.file_complete(size))
                elif kind == FIELD:
                    data = b"".join(chunks)
                    if base64:  # as Django's parser: undecodable data is kept as it came
                        with contextlib.suppress(binascii.Error):
                            data = b64decode(data)
                    post.appendlist(name, force_str(data, encoding, errors="replace"))
        post._mutable = False
        return post, files

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.file = StagedUploadedFile(self.file_name, self.content_type, self.charset, self.content_type_extra)
        self.hash = self.digests.digest()
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
                self.splitter = ZipSplitter(self.file.file, self.file.new_entries_folder(), self.split_room, self.digests)
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
            self.file.sha256 = self.hash.hexdigest().result()
        self.file.seek(0)
        self.file.size = file_size
        return self.file

    def discard_received(self) -> None:
        """Delete every file of this request received so far (nothing of a refused body is kept)."""
        for file in self.received:
            file.close()


def part_kind(headers: PartHeaders) -> str:
    """As Django's parser tells them: a part with a non-empty file name is a file, another with a
    Content-Disposition naming it a field; the rest is ignored."""
    if "name" not in headers.disposition:
        return IGNORED
    return FILE if headers.disposition.get("filename") else FIELD


def sanitized_file_name(file_name: str) -> str | None:
    """The file name as Django's parser keeps it (its own rule, `MultiPartParser.sanitize_file_name`,
    which uses nothing of the parser): no folders, only printable characters; None for "", "." or ".."."""
    return MultiPartParser.sanitize_file_name(None, file_name)
