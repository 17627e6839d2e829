"""Pixel data: frames read straight from the file or decoded by pydicom, their stored values and histograms."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator

import numpy as np
import pydicom
from pydicom.pixels import iter_pixels

from .decoding import iter_encapsulated_frames
from .images import DicomImage, Frame, KeptFrame, NotAnImage, PixelLayout, StoredHistogram, describe
from .word_counts import WordCounting


class FrameBuffer:
    """Memory for one uncompressed frame, reused from frame to frame and file to file: reading a series
    into the same memory is much faster than allocating new memory for every slice."""

    def __init__(self) -> None:
        self._memory = np.empty(0, dtype=np.uint8)

    def take(self, size: int) -> np.ndarray:
        """`size` bytes of the buffer; what they held before is overwritten by the next frame read."""
        if self._memory.size < size:
            self._memory = np.empty(size, dtype=np.uint8)
        return self._memory[:size]


def frame_histograms(
    image: DicomImage, positions: Iterable[int], counting: WordCounting, buffer: FrameBuffer | None = None
) -> list[StoredHistogram]:
    """Histogram the frames at `positions` of `image.frames` (ascending), one stored frame in memory at a time
    (a mosaic's tiles each as a frame of its own), counting pixel words the way `counting` says (a
    `ReadingRuntime`'s `word_counting`)."""
    frames = [image.frames[position] for position in positions]
    indices = [frame.index for frame in frames] if image.mosaic is None else list(dict.fromkeys(f.index for f in frames))
    stored = iter_stored_frames(image, indices, buffer or FrameBuffer())
    if image.mosaic is None:
        return [compact(histogram_stored(frame, image.pixels, counting, as_stored)) for frame, as_stored in stored]
    return [
        compact(histogram_stored(tile, image.pixels, counting, as_stored)) for tile, as_stored in iter_tiles(image, frames, stored)
    ]


def histogram_keeping_frame(image: DicomImage, counting: WordCounting) -> tuple[StoredHistogram, KeptFrame]:
    """The histogram of the one frame of `image` (not a mosaic), and the frame's words kept (a copy:
    counting may reorder the words it counts)."""
    ((words, as_stored),) = iter_stored_frames(image, [0])
    kept = KeptFrame(words.copy(), as_stored)
    return compact(histogram_stored(words, image.pixels, counting, as_stored)), kept


def iter_tiles(
    image: DicomImage, frames: list[Frame], stored: Iterator[tuple[np.ndarray, bool]]
) -> Iterator[tuple[np.ndarray, bool]]:
    """The tiles of a mosaic's frames, each stored frame read once (frames come in stored order)."""
    current_index, current, as_stored = None, None, True
    for frame in frames:
        if frame.index != current_index:
            current_index, (current, as_stored) = frame.index, next(stored)
        yield tile_of(current, image, frame.tile), as_stored


def tile_of(stored: np.ndarray, image: DicomImage, tile: int | None = None) -> np.ndarray:
    """(rows, columns) of one tile of a mosaic's stored frame, as a contiguous copy."""
    mosaic = image.mosaic
    whole = stored.reshape(image.pixels.rows, image.pixels.columns)
    top, left = divmod(tile, mosaic.per_row)
    return np.ascontiguousarray(
        whole[top * mosaic.rows : (top + 1) * mosaic.rows, left * mosaic.columns : (left + 1) * mosaic.columns]
    )


def compact(histogram: StoredHistogram) -> StoredHistogram:
    """The same histogram in 32-bit integers where they hold it: half the bytes to keep and to send between processes."""
    values, counts = histogram.values, histogram.counts
    if values.dtype.kind == "i" and len(values) and -(1 << 31) <= values[0] and values[-1] < 1 << 31:
        values = values.astype(np.int32)
    if len(counts) and counts.max() < 1 << 31:
        counts = counts.astype(np.int32)
    return StoredHistogram(values, counts)


def frame_stored_values(image: DicomImage, position: int, buffer: FrameBuffer | None = None) -> np.ndarray:
    """The stored values of the frame at `position` of `image.frames` (a mosaic's tile) as a (rows, columns)
    array of int64 (float64 for float pixel data); with a `buffer`, the raw frame is read into it."""
    words, as_stored = frame_words(image, position, buffer)
    return stored_values(words, image.pixels, as_stored).reshape(image.rows, image.columns)


def frame_words(image: DicomImage, position: int, buffer: FrameBuffer | None = None) -> tuple[np.ndarray, bool]:
    """The pixel words of the frame at `position` of `image.frames` (a mosaic's tile, contiguous) and
    whether they are as stored (see `iter_stored_frames`): the kept frame where there is one."""
    frame = image.frames[position]
    if image.kept_frame is not None and frame.index == 0 and image.mosaic is None:
        return image.kept_frame.words, image.kept_frame.as_stored
    for stored, as_stored in iter_stored_frames(image, [frame.index], buffer):
        return (stored if image.mosaic is None else tile_of(stored, image, frame.tile)), as_stored
    raise NotAnImage(f"frame {frame.index + 1} is missing from the pixel data")


def iter_stored_frames(
    image: DicomImage, wanted: Iterable[int], buffer: FrameBuffer | None = None
) -> Iterator[tuple[np.ndarray, bool]]:
    """Yield each frame's pixel words, and whether they are as stored (True: words read straight from
    the file, or decoded directly by decoding.py; the bits above Bits Stored still to drop, see
    `word_values`) or as pydicom's `iter_pixels(raw=True)` corrected them (False).

    With a `buffer`, raw words are read into it: each frame yielded is then valid until the next.
    """
    layout = image.pixels
    if layout.native_offset is not None:
        bytes_per_pixel = layout.bits_allocated // 8
        dtype = np.dtype(f"{'>' if layout.big_endian else '<'}u{bytes_per_pixel}")
        frame_bytes = layout.rows * layout.columns * bytes_per_pixel
        with open(image.path, "rb", buffering=0) as f:
            for index in wanted:
                raw = buffer.take(frame_bytes) if buffer is not None else np.empty(frame_bytes, dtype=np.uint8)
                f.seek(layout.native_offset + index * frame_bytes)
                if read_into(f, raw) != frame_bytes:
                    raise NotAnImage(f"truncated pixel data: frame {index + 1} is incomplete")
                yield raw.view(dtype), True
        return
    try:
        if layout.encapsulated:
            yield from iter_encapsulated_frames(image, wanted)
            return
        ds = pydicom.dcmread(image.path, force=True)
        if not ds.file_meta.get("TransferSyntaxUID"):
            ds.file_meta.TransferSyntaxUID = layout.transfer_syntax_uid
        for frame in iter_pixels(ds, indices=wanted, raw=True):
            yield frame, False
    except NotAnImage:
        raise
    except Exception as error:  # decoders raise many kinds on damaged data
        raise NotAnImage(f"the pixel data cannot be decoded ({describe(error)})") from None


def word_value_indices(
    words: np.ndarray, layout: PixelLayout, as_stored: bool, values: np.ndarray, indices: np.ndarray
) -> np.ndarray | None:
    """`indices[k]` for each of a frame's words whose stored value is `values[k]` (ascending), as int32:
    looked up once for every possible 8- or 16-bit word, then gathered by word (instead of each
    pixel's stored value, then a search for it). None when the words are not 8- or 16-bit integers,
    or a pixel's value is not among `values`."""
    if words.dtype.kind not in "iu" or words.dtype.itemsize > 2 or not len(values):
        return None
    raw = words.view(np.dtype(f"u{words.dtype.itemsize}"))
    table, _ = word_table(words.dtype, as_stored, layout.bits_stored, layout.signed)
    table = table[: int(raw.max()) + 1]  # the words up to the largest the frame holds
    found = np.minimum(np.searchsorted(values, table), len(values) - 1)
    index_of_word = np.where(values[found] == table, indices[found], -1).astype(np.int32)
    result = index_of_word[raw]
    return None if (result < 0).any() else result


def read_into(f, memory: np.ndarray) -> int:
    """Fill `memory` from the file; how many bytes it got (fewer only at the end of the file)."""
    got = 0
    while got < memory.size:
        count = f.readinto(memory[got:])
        if not count:
            break
        got += count
    return got


def histogram_stored(frame: np.ndarray, layout: PixelLayout, counting: WordCounting, as_stored: bool) -> StoredHistogram:
    """Distinct stored values of a frame and their counts, with unused high bits and sign corrected
    (`as_stored`: see `iter_stored_frames`).

    The frame's pixels may be left reordered (`counting` may sort them): pass a frame that is not needed after.
    """
    if frame.dtype.kind == "f":
        values, counts = np.unique(frame, return_counts=True)
        return StoredHistogram(values.astype(np.float64), counts.astype(np.int64))
    if frame.dtype.itemsize > 2:
        values, counts = np.unique(frame, return_counts=True)
        return StoredHistogram(values.astype(np.int64), counts.astype(np.int64))
    words = frame.view(np.dtype(f"u{frame.dtype.itemsize}")) if frame.dtype.kind == "i" else frame
    present, counts = counting.count(words.ravel())
    table, ascending = word_table(frame.dtype, as_stored, layout.bits_stored, layout.signed)
    values = table[present].astype(np.int64, copy=False)
    if ascending or np.all(values[1:] > values[:-1]):
        return StoredHistogram(values, counts)
    order = np.argsort(values, kind="stable")
    values, counts = values[order], counts[order]
    unique, starts = np.unique(values, return_index=True)
    return StoredHistogram(unique, np.add.reduceat(counts, starts))


@functools.lru_cache(maxsize=16)
def word_table(dtype: np.dtype, as_stored: bool, bits_stored: int, signed: bool) -> tuple[np.ndarray, bool]:
    """The stored value of every possible 8- or 16-bit pixel word (see `word_values`), and whether
    they ascend with the word (then any histogram over words is already in order of values)."""
    table = word_values(np.arange(1 << (dtype.itemsize * 8)), dtype, as_stored, bits_stored, signed)
    table.setflags(write=False)
    return table, bool(np.all(table[1:] > table[:-1]))


def word_values(words: np.ndarray, dtype: np.dtype, as_stored: bool, bits_stored: int, signed: bool) -> np.ndarray:
    """The stored values that raw pixel words stand for.

    Words from pydicom are already corrected: only their signedness is restored. Words as stored
    (`as_stored`: read straight from the file, or decoded directly) get what pydicom does to them:
    the bits above Bits Stored are dropped, and with signed data the top stored bit is the sign.
    """
    words = words.astype(np.int64)
    bits = dtype.itemsize * 8
    if not as_stored:
        if dtype.kind == "i":
            return np.where(words >= 1 << (bits - 1), words - (1 << bits), words)
        return words
    stored_bits = min(bits_stored, bits) if bits_stored > 0 else bits
    values = words & ((1 << stored_bits) - 1)
    if signed:
        values = np.where(values >= 1 << (stored_bits - 1), values - (1 << stored_bits), values)
    return values


def stored_values(frame: np.ndarray, layout: PixelLayout, as_stored: bool) -> np.ndarray:
    """A frame's stored values, corrected like `histogram_stored` does, as int64 or float64."""
    if frame.dtype.kind == "f":
        return frame.astype(np.float64)
    if frame.dtype.itemsize > 2:
        return frame.astype(np.int64)
    words = frame.view(np.dtype(f"u{frame.dtype.itemsize}")) if frame.dtype.kind == "i" else frame
    table, _ = word_table(frame.dtype, as_stored, layout.bits_stored, layout.signed)
    return table[words]
