"""A multipart/form-data request body read in large blocks, its parts' bytes handed on without copying.

Django's parser reads a body 64 KiB at a time through three layers of buffers (its LazyStream and
ChunkIter, then the server's body reader) and searches each piece for the boundary in Python; an
upload handler then sees 64 KiB pieces. Here the body is read READ_BYTES at a time and each part's
bytes are handed on as memoryviews of those blocks, found with one `bytes.find` a block (README:
"An upload, piece by piece"). What this parser accepts and how it reads the part headers follow
Django's parser (`django.http.multipartparser`): a part with a non-empty `filename` is a file, any
other part with a Content-Disposition a field, anything else is ignored.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.http.multipartparser import MultiPartParserError
from django.utils.http import parse_header_parameters

READ_BYTES = 4 * 1024 * 1024
"""Bytes read from the request at a time."""

MAX_HEADER_BYTES = 64 * 1024
"""A part's header block, and the preamble before the first boundary, may be at most this long
(Django's parser allows the same for headers)."""


class BodyRefused(MultiPartParserError):
    """The body is not a multipart form this server reads: Django answers 400 (a MultiPartParserError)."""


@dataclass(frozen=True)
class PartHeaders:
    """A part's headers: its Content-Disposition's parameters, its Content-Type and the other headers."""

    disposition: dict[str, str]
    content_type: str
    content_type_params: dict[str, str]
    transfer_encoding: str

    @classmethod
    def parse(cls, block: bytes) -> "PartHeaders":
        """Read header lines as Django's parser does (each line decoded as UTF-8, invalid lines ignored)."""
        headers: dict[str, tuple[str, dict[str, str]]] = {}
        for line in block.split(b"\r\n"):
            try:
                main, params = parse_header_parameters(line.decode())
                name, value = main.split(":", 1)
            except ValueError:
                continue
            headers[name.strip()] = (value.strip(), params)
        disposition = headers.get("content-disposition")
        content_type, type_params = headers.get("content-type", ("", {}))
        return cls(
            disposition=disposition[1] if disposition else {},
            content_type=content_type,
            content_type_params=type_params,
            transfer_encoding=headers.get("content-transfer-encoding", ("", {}))[0].lower(),
        )


class MultipartBody:
    """Reads a multipart body from `stream` (at most `length` bytes) as events, in order:
    `("part", PartHeaders)`, then `("data", memoryview)` any number of times, then `("end", None)`.

    A data view keeps its bytes as long as it is held: a block is never written again once read (the
    files' SHA-256 is computed from these views on another thread, imaging/digests.py). When the stream
    ends before the final boundary the events stop there: `complete` stays False and `bytes_read` says
    how much arrived.
    """

    def __init__(self, stream, boundary: bytes, length: int) -> None:
        self.stream = stream
        self.boundary = boundary
        self.length = length
        self.bytes_read = 0
        self.complete = False  # the final boundary arrived, and the body up to its length
        self.buffer = b""
        self.position = 0  # what is before it in `buffer` was handed on

    def events(self) -> Iterator[tuple[str, object]]:
        delimiter = b"--" + self.boundary
        if not self._skip_preamble(delimiter):
            return
        separator = b"\r\n" + delimiter  # a part's bytes end before it
        while True:
            if not self._have(2):
                return
            if self.buffer[self.position : self.position + 2] == b"--":  # the final boundary
                self._read_to_end()
                return
            line_end = self._find(b"\r\n", MAX_HEADER_BYTES)  # the boundary's line ends (after any padding)
            if line_end < 0:
                return
            self.position = line_end  # reading more keeps what follows `position` (and moves it to 0)
            headers_end = self._find(b"\r\n\r\n", MAX_HEADER_BYTES)
            if headers_end < 0:
                return
            yield "part", PartHeaders.parse(self.buffer[self.position + 2 : headers_end])
            self.position = headers_end + 4
            while True:
                found = self.buffer.find(separator, self.position)
                if found >= 0:
                    if found > self.position:
                        yield "data", memoryview(self.buffer)[self.position : found]
                    self.position = found + len(separator)
                    break
                # Everything before the first CR that could start the separator is the part's.
                tail = self.buffer.find(b"\r", max(self.position, len(self.buffer) - len(separator) + 1))
                safe = tail if tail >= 0 else len(self.buffer)
                if safe > self.position:
                    yield "data", memoryview(self.buffer)[self.position : safe]
                    self.position = safe
                if not self._read_block():
                    return
            yield "end", None

    def _skip_preamble(self, delimiter: bytes) -> bool:
        """Past the first boundary (at the start, or after a CRLF as RFC 2046 allows a preamble)."""
        if not self._have(len(delimiter)):
            return False
        if self.buffer.startswith(delimiter):
            self.position = len(delimiter)
            return True
        found = self._find(b"\r\n" + delimiter, MAX_HEADER_BYTES)
        if found < 0:
            return False
        self.position = found + 2 + len(delimiter)
        return True

    def _have(self, count: int) -> bool:
        """Whether `count` bytes past `position` are in the buffer (reading more when needed)."""
        while len(self.buffer) - self.position < count:
            if not self._read_block():
                return False
        return True

    def _find(self, needle: bytes, limit: int) -> int:
        """Where `needle` is in the buffer from `position`, reading more while it is not; -1 when the
        stream ended first. More than `limit` bytes without it: refused."""
        start = self.position
        while True:
            found = self.buffer.find(needle, start)
            if found >= 0:
                return found
            if len(self.buffer) - self.position > limit:
                raise BodyRefused(f"a part's headers or the preamble are longer than {limit:,} bytes")
            searched, offset = len(self.buffer), self.position
            if not self._read_block():
                return -1
            start = max(start, searched - len(needle) + 1) - offset  # the needle may straddle the blocks

    def _read_block(self) -> bool:
        """Append the next block to what was not handed on; False when the stream has ended."""
        block = self.stream.read(min(READ_BYTES, self.length - self.bytes_read))
        if not block:
            return False
        self.bytes_read += len(block)
        rest = self.buffer[self.position :]
        self.buffer = rest + block if rest else block
        self.position = 0
        return True

    def _read_to_end(self) -> None:
        """Read what follows the final boundary (an epilogue, ignored) up to the body's length."""
        self.buffer, self.position = b"", 0
        while self.bytes_read < self.length and self._read_block():
            self.buffer = b""
        self.complete = self.bytes_read == self.length
