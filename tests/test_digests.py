"""SHA-256 on the digest thread (imaging/digests.py): the same digests as hashlib's, whatever the pieces,
and computed from views of the request's blocks, which keep their bytes while they are held."""
import hashlib

import numpy as np
import pytest

from volumes.imaging.digests import SMALL_BYTES, DigestThread
from volumes.multipart_body import MultipartBody

from .test_multipart_body import BOUNDARY, Trickle, body_of, part

RNG = np.random.default_rng(7)
FILES = [RNG.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (0, 1, SMALL_BYTES - 1, SMALL_BYTES, 3 << 20)]


@pytest.mark.parametrize("piece", [1, 1000, SMALL_BYTES - 1, SMALL_BYTES + 1, 1 << 20])
def test_files_hashed_on_the_thread_in_interleaved_pieces_give_hashlibs_digests(piece):
    with DigestThread() as thread:
        digests = [thread.digest() for _ in FILES]
        longest = max(len(data) for data in FILES)
        for start in range(0, longest, piece):  # one piece of each file in turn, as a zip's entries come
            for digest, data in zip(digests, FILES):
                if start < len(data):
                    digest.update(memoryview(data)[start : start + piece])
        results = [digest.hexdigest() for digest in digests]
        assert [r.result() for r in results] == [hashlib.sha256(data).hexdigest() for data in FILES]


def test_views_of_a_multipart_bodys_blocks_keep_their_bytes_after_later_blocks_are_read():
    data = FILES[-1]
    body = body_of(part("files", data, filename="a.bin"), part("files", data[::-1], filename="b.bin"))
    parsed = MultipartBody(Trickle(body, 1 << 20), BOUNDARY.encode(), len(body))
    held: list[list[memoryview]] = []
    for event, value in parsed.events():
        if event == "part":
            held.append([])
        elif event == "data":
            held[-1].append(value)  # not copied: read again only after the whole body
    assert parsed.complete and len(held) == 2 and len(held[0]) >= 3  # each file over several blocks
    assert [b"".join(views) for views in held] == [data, data[::-1]]
