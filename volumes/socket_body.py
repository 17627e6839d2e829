"""A request body of known length read straight from gunicorn's socket into blocks of the size asked for.

Gunicorn hands the application its body through three buffers (the socket reader's, the length
reader's and the body's own), each copying every byte again in Python (what that costs on a 300 MiB
upload: README, "Session 8, after merging"). This reader takes what gunicorn has already received of the body, then the rest from the socket, and
keeps gunicorn's count of what is left of the body true, so that the connection carries on (keep-alive)
as if gunicorn had read it; a failed read marks the body failed, so the connection is not reused.
Outside gunicorn, or once any of the body was read another way, the server's own stream is used.
"""
from __future__ import annotations

from django.http import UnreadablePostError


class GunicornSocketBody:
    """`read(size)` as a WSGI input stream's, over the socket of a gunicorn request whose body is unread."""

    def __init__(self, sock, body, length_reader) -> None:
        self.sock = sock
        self.body = body
        self.reader = length_reader
        held = length_reader.unreader.take_buffered()
        self.held, rest = held[: length_reader.length], held[length_reader.length :]
        if rest:  # the next request on the connection, already received: gunicorn reads it from there
            length_reader.unreader.unread(rest)

    @classmethod
    def of(cls, meta: dict, content_length: int) -> "GunicornSocketBody | None":
        """The socket body of this request, or None when it is not a gunicorn request with a Content-Length
        body of which nothing was read yet."""
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:
            return None
        body, sock = meta.get("wsgi.input"), meta.get("gunicorn.socket")
        if not isinstance(body, Body) or sock is None or body.buf.tell() or body.failed:
            return None
        reader = body.reader
        if not isinstance(reader, LengthReader) or not isinstance(reader.unreader, SocketUnreader):
            return None
        if reader.length != content_length or reader.unreader.sock is not sock:
            return None
        return cls(sock, body, reader)

    def read(self, size: int) -> bytes | bytearray:
        """Up to `size` bytes of the body: fewer only at its end or when the client stopped sending."""
        size = min(size, self.reader.length)
        if size <= 0:
            return b""
        block = bytearray(size)
        view = memoryview(block)
        filled = min(len(self.held), size)
        view[:filled] = self.held[:filled]
        self.held = self.held[filled:]
        try:
            while filled < size:
                received = self.sock.recv_into(view[filled:])
                if received == 0:
                    break
                filled += received
        except OSError as error:
            self.body.failed = True
            raise UnreadablePostError(*error.args) from error
        finally:
            view.release()
        self.reader.length -= filled
        if filled < size:
            self.body.failed = True  # the client closed its side: where a next request would start is unknown
            del block[filled:]
        return block
