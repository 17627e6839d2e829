"""A zip archive as the upload form's body (mode normalized, threshold 0.5, the archive as `files`),
streamed from disk: what bench/http_e2e.py and bench/upload_memory.py post."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

CHUNK_BYTES = 1 << 20


def archive_form(archive: Path) -> tuple[Iterator[bytes], dict[str, str]]:
    """The multipart body, read from disk a megabyte at a time, and its Content-Type and Content-Length."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nnormalized\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"threshold\"\r\n\r\n0.5\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{archive.name}\"\r\n"
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with open(archive, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + archive.stat().st_size + len(tail)),
    }
    return body(), headers
