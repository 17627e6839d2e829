"""SHA-256 digests of an upload's files, computed on a thread beside the one that receives the bytes.

hashlib lets other threads run while it hashes more than 2 KiB, so the request's thread writes a
piece and receives the next while this thread hashes it: taking in an upload then costs about the
larger of the two, not their sum (README, "Session 8, after merging"). The pieces are views of the
request's blocks, which are never written again once read; at most MAX_WAITING of them wait to be
hashed, so an upload holds a few blocks in memory at the most. Pieces smaller than SMALL_BYTES are
gathered first, so that a file sent in tiny pieces does not cost a hand-over each.
"""
from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

MAX_WAITING = 16
SMALL_BYTES = 64 * 1024


class DigestThread:
    """The thread that hashes; its work runs in the order it was given. Use it as a context manager:
    leaving it waits for what was given and ends the thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._waiting: deque[Future] = deque()

    def __enter__(self) -> DigestThread:
        return self

    def __exit__(self, *exc_info) -> None:
        self._executor.shutdown(wait=True)

    def digest(self) -> Digest:
        return Digest(self)

    def submit(self, work, *args) -> Future:
        while len(self._waiting) >= MAX_WAITING:
            self._waiting.popleft().result()
        future = self._executor.submit(work, *args)
        self._waiting.append(future)
        return future


class Digest:
    """One file's SHA-256, its pieces hashed in order on the digest thread."""

    def __init__(self, thread: DigestThread) -> None:
        self._thread = thread
        self._hash = hashlib.sha256()
        self._small = bytearray()

    def update(self, data) -> None:
        if len(data) < SMALL_BYTES:
            self._small += data
            if len(self._small) < SMALL_BYTES:
                return
            data = self._take_small()
        elif self._small:
            self._thread.submit(self._hash.update, self._take_small())
        self._thread.submit(self._hash.update, data)

    def hexdigest(self) -> Future:
        """The digest of every piece given so far, once hashed (`.result()` waits for it)."""
        if self._small:
            self._thread.submit(self._hash.update, self._take_small())
        return self._thread.submit(self._hash.hexdigest)

    def _take_small(self) -> bytearray:
        small, self._small = self._small, bytearray()
        return small
