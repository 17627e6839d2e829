"""Compressed frames: decoded straight from the file by the decoder's own function, else by pydicom.

pydicom's `iter_pixels` reads the file's meta information and pixel description again, builds and
checks its decoding options, then finds the frame and calls the decoder: as long as decoding a whole
RLE frame (README, Benchmark). The header walk already knows where the encapsulated Pixel Data
starts, so `iter_encapsulated_frames` finds each frame's fragments there (pydicom's `get_frame`, the
function its own framework uses) and calls the decoder's function (GDCM's region reader finds the
frame in the file itself). The words come out as stored (pixels.word_values drops the bits above
Bits Stored, as pydicom does after these decoders); where pydicom corrects a frame otherwise (a
JPEG-LS or JPEG 2000 precision below Bits Stored), the same correction is made here. A frame the
direct path declines (a precision above Bits Stored, a decoded size it does not expect) or fails on
goes through pydicom, which decodes it or says why it cannot.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from pydicom.encaps import get_frame
from pydicom.pixels import iter_pixels
from pydicom.pixels.utils import get_j2k_parameters
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from .images import DicomImage, PixelLayout

DECODING_PLUGINS = {
    RLELossless: "pylibjpeg",
    JPEG2000Lossless: "pylibjpeg",
    JPEG2000: "pylibjpeg",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    JPEGLosslessSV1: "gdcm",
}
"""The decoding plugin pydicom is asked to use per transfer syntax: the fastest that pydicom
supports, measured by `bench/compressed.py` (README, Benchmark); other syntaxes: pydicom's choice."""

MONOCHROME = ("MONOCHROME1", "MONOCHROME2")


def iter_encapsulated_frames(image: DicomImage, wanted: Iterable[int]) -> Iterator[tuple[np.ndarray, bool]]:
    """Yield the frames at `wanted` of a file of compressed pixel data, each with whether its words are
    as stored (decoded directly) or as pydicom's `iter_pixels(raw=True)` corrected them (see
    pixels.iter_stored_frames)."""
    layout = image.pixels
    plugin = DECODING_PLUGINS.get(layout.transfer_syntax_uid, "")
    decode = direct_decoder(layout)
    if decode is None:
        for frame in iter_pixels(image.path, indices=wanted, raw=True, decoding_plugin=plugin):
            yield frame, False
        return
    with open(image.path, "rb") as f:
        source = CompressedFile(image.path, f, layout)
        for index in wanted:
            try:
                words = decode(source, index)
            except Exception:  # damaged data: pydicom's framework says what is wrong
                words = None
            if words is None:
                yield next(iter_pixels(image.path, indices=[index], raw=True, decoding_plugin=plugin)), False
            else:
                yield words, True


@dataclass(frozen=True)
class CompressedFile:
    """An open file of compressed pixel data, for the direct decoders."""

    path: Path
    file: BinaryIO
    layout: PixelLayout

    def codestream(self, index: int) -> bytes:
        """The encoded frame at `index`: its fragments, found from the Basic Offset Table or, without
        one, as pydicom's decoding framework finds them."""
        self.file.seek(self.layout.encapsulated_offset)
        return get_frame(self.file, index, number_of_frames=self.layout.frames)


def direct_decoder(layout: PixelLayout) -> Callable[[CompressedFile, int], np.ndarray | None] | None:
    """The function that decodes one frame of this layout without pydicom, or None when pydicom must."""
    if layout.encapsulated_offset is None or layout.photometric not in MONOCHROME or layout.bits_allocated not in (8, 16):
        return None
    return DIRECT_DECODERS.get(layout.transfer_syntax_uid)


def pixel_words(decoded: bytes | bytearray, layout: PixelLayout) -> np.ndarray | None:
    """The decoded frame as words of Bits Allocated, or None when its size is not one frame's."""
    dtype = np.dtype(f"<u{layout.bits_allocated // 8}")
    if len(decoded) != layout.rows * layout.columns * dtype.itemsize:
        return None
    return np.frombuffer(decoded, dtype=dtype)


def sample_words(decoded: bytes | bytearray, layout: PixelLayout, precision: int, reinterpret: bool) -> np.ndarray | None:
    """The words of a JPEG-LS or JPEG 2000 frame whose samples have `precision` bits, as stored; None
    where pydicom's result cannot be had from them (a precision above Bits Stored, or samples not
    Bits Allocated wide). With `reinterpret`, pydicom reads the samples' top bit as the sign, or
    stops doing so, at `precision`: where that is below Bits Stored, it is done here."""
    if not 0 < precision <= layout.bits_stored or (8 if precision <= 8 else 16) != layout.bits_allocated:
        return None
    words = pixel_words(decoded, layout)
    if words is not None and reinterpret and precision < layout.bits_stored:
        words = keep_low_bits(words, precision, layout.signed)
    return words


def keep_low_bits(words: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """The words with the bits above the lowest `bits` dropped (signed: the top one of those extended)."""
    if signed:
        shift = words.dtype.itemsize * 8 - bits
        words = np.right_shift(np.left_shift(words.view(words.dtype.str.replace("u", "i")), shift), shift)
        return words.view(words.dtype.str.replace("i", "u"))
    return words & ((1 << bits) - 1)


def decode_rle(source: CompressedFile, index: int) -> np.ndarray | None:
    """pylibjpeg-rle: the words as stored."""
    from rle.rle import decode_frame

    layout = source.layout
    return pixel_words(decode_frame(source.codestream(index), layout.rows * layout.columns, layout.bits_allocated, "<"), layout)


def decode_jpeg_lossless(source: CompressedFile, index: int) -> np.ndarray | None:
    """GDCM: the words as stored (pydicom drops the bits above Bits Stored after it, whatever the precision)."""
    return pixel_words(gdcm_decode_file(source.path, index, source.layout), source.layout)


def gdcm_decode_file(path: Path, index: int, layout: PixelLayout) -> bytearray:
    """The frame at `index` of a file, decoded by GDCM's region reader into a buffer of ours. Handing
    GDCM the codestream instead (as pydicom's gdcm plugin does) gives the pixels back as a str to
    convert, which is slower (README, Benchmark)."""
    import gdcm

    reader = gdcm.ImageRegionReader()
    reader.SetFileName(str(path))
    if not reader.ReadInformation():
        raise ValueError("GDCM cannot read the file's header")
    region = gdcm.BoxRegion()
    region.SetDomain(0, layout.columns - 1, 0, layout.rows - 1, index, index)
    reader.SetRegion(region)
    pixels = bytearray(reader.ComputeBufferLength())
    if not reader.ReadIntoBuffer(pixels):
        raise ValueError("GDCM cannot decode the frame")
    return pixels


def decode_jpeg_ls(source: CompressedFile, index: int) -> np.ndarray | None:
    """CharLS (pyjpegls). JPEG-LS has no sign: pydicom extends signed samples from their precision."""
    import jpeg_ls

    layout = source.layout
    decoded, info = jpeg_ls.decode_pixel_data(source.codestream(index))
    return sample_words(decoded, layout, info["bits_per_sample"], reinterpret=layout.signed)


def decode_jpeg_2000(source: CompressedFile, index: int) -> np.ndarray | None:
    """OpenJPEG (pylibjpeg-openjpeg). pydicom reinterprets samples whose signedness in the codestream
    differs from Pixel Representation, from their precision."""
    from openjpeg.utils import decode_pixel_data

    layout, src = source.layout, source.codestream(index)
    parameters = get_j2k_parameters(src)
    precision = parameters.get("precision", layout.bits_stored)
    reinterpret = bool(parameters.get("is_signed", layout.signed)) != layout.signed
    if not 0 < precision <= layout.bits_stored:
        return None  # before decoding: pydicom's path decodes it
    return sample_words(decode_pixel_data(src, version=2), layout, precision, reinterpret)


DIRECT_DECODERS: dict[str, Callable[[CompressedFile, int], np.ndarray | None]] = {
    RLELossless: decode_rle,
    JPEGLosslessSV1: decode_jpeg_lossless,
    JPEGLSLossless: decode_jpeg_ls,
    JPEGLSNearLossless: decode_jpeg_ls,
    JPEG2000Lossless: decode_jpeg_2000,
    JPEG2000: decode_jpeg_2000,
}
"""Per transfer syntax, `DECODING_PLUGINS`' plugin called directly: one frame's words as stored, or None."""
