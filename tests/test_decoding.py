"""Compressed frames decoded straight from the file (decoding.py) give exactly pydicom's pixels.

Each file is written here with known stored values, in one compressed syntax, at a precision, sign
and layout of its own (high bits holding garbage, samples of fewer bits than Bits Stored, a
codestream whose sign differs from Pixel Representation, several frames with or without a Basic
Offset Table, frames in several fragments). Each is then read three ways: ours (its direct path,
checked to be the one taken or declined), ours with the direct path turned off (pydicom's decoding
framework), and pydicom's own `pixel_array`. The stored values and histograms must be the same.
"""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from openjpeg.utils import encode_array as encode_jpeg_2000
from pydicom.encaps import encapsulate
from pydicom.uid import CTImageStorage, JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless
from rle.utils import encode_array as encode_rle

from tests.jpeg_encoders import encode_jpeg_lossless, encode_jpeg_ls
from tests.phantoms import Phantom, SeriesSpec, base_dataset, write_series
from volumes.imaging import decoding
from volumes.imaging.grouping import split_into_volumes
from volumes.imaging.histograms import histogram_volume
from volumes.imaging.images import PixelLayout
from volumes.imaging.pixels import frame_histograms, frame_stored_values, iter_stored_frames, stored_values, word_value_indices
from volumes.imaging.reader import read_image, read_images
from volumes.imaging.sources import SourceFile, collect_paths
from volumes.imaging.word_counts import BINCOUNT, forced_word_counting

ROWS, COLUMNS = 32, 32  # JPEG 2000's six resolution levels need at least 32 × 32 pixels
COUNTING = forced_word_counting(BINCOUNT)
BUNDLED = Path(pydicom.data.__file__).parent / "test_files"


@dataclass(frozen=True)
class Case:
    """A file's pixel description and how its frames are encoded.

    precision     bits of each encoded sample (JPEG family), when not Bits Stored
    stream_signed JPEG 2000: whether the codestream calls its samples signed, when not as Pixel Representation
    garbage       the bits above Bits Stored hold random bits (RLE keeps them; pydicom drops them)
    """

    syntax: str
    bits_allocated: int = 16
    bits_stored: int = 12
    signed: bool = False
    precision: int | None = None
    stream_signed: bool | None = None
    garbage: bool = False
    frames: int = 1
    has_bot: bool = True
    fragments_per_frame: int = 1
    direct: bool = True  # whether the direct path decodes it (else it declines: pydicom does)

    @property
    def sample_bits(self) -> int:
        return self.precision or self.bits_stored


CASES = {
    "rle-12-unsigned-garbage": Case(RLELossless, garbage=True),
    "rle-12-signed-garbage": Case(RLELossless, signed=True, garbage=True),
    "rle-16-signed": Case(RLELossless, bits_stored=16, signed=True),
    "rle-8-of-6-signed-garbage": Case(RLELossless, bits_allocated=8, bits_stored=6, signed=True, garbage=True),
    "rle-3-frames-2-fragments": Case(RLELossless, signed=True, frames=3, fragments_per_frame=2),
    "rle-3-frames-no-offset-table": Case(RLELossless, frames=3, has_bot=False),
    "jpeg-lossless-12-unsigned": Case(JPEGLosslessSV1),
    "jpeg-lossless-12-signed": Case(JPEGLosslessSV1, signed=True),
    "jpeg-lossless-16-signed": Case(JPEGLosslessSV1, bits_stored=16, signed=True),
    "jpeg-lossless-8": Case(JPEGLosslessSV1, bits_allocated=8, bits_stored=8),
    "jpeg-lossless-precision-16-in-12-bits": Case(JPEGLosslessSV1, precision=16),
    "jpeg-lossless-precision-10-in-12-signed": Case(JPEGLosslessSV1, precision=10, signed=True),
    "jpeg-lossless-3-frames-no-offset-table": Case(JPEGLosslessSV1, signed=True, frames=3, has_bot=False),
    # GDCM's region reader reads no frame of several fragments: pydicom's framework does
    "jpeg-lossless-3-frames-no-offset-table-2-fragments": Case(
        JPEGLosslessSV1, signed=True, frames=3, has_bot=False, fragments_per_frame=2, direct=False
    ),
    "jpeg-ls-12-unsigned": Case(JPEGLSLossless),
    "jpeg-ls-12-signed": Case(JPEGLSLossless, signed=True),
    "jpeg-ls-16-signed": Case(JPEGLSLossless, bits_stored=16, signed=True),
    "jpeg-ls-8": Case(JPEGLSLossless, bits_allocated=8, bits_stored=8),
    "jpeg-ls-precision-10-in-12-signed": Case(JPEGLSLossless, precision=10, signed=True),
    "jpeg-ls-precision-10-in-12-unsigned": Case(JPEGLSLossless, precision=10),
    "jpeg-ls-precision-16-in-12-bits": Case(JPEGLSLossless, precision=16, direct=False),
    "jpeg-ls-precision-8-in-16-bits": Case(JPEGLSLossless, precision=8, direct=False),
    "jpeg-ls-3-frames-no-offset-table": Case(JPEGLSLossless, signed=True, frames=3, has_bot=False),
    "jpeg-2000-12-unsigned": Case(JPEG2000Lossless),
    "jpeg-2000-12-signed": Case(JPEG2000Lossless, signed=True),
    "jpeg-2000-signed-header-unsigned-stream": Case(JPEG2000Lossless, signed=True, stream_signed=False),
    "jpeg-2000-unsigned-header-signed-stream": Case(JPEG2000Lossless, stream_signed=True),
    "jpeg-2000-precision-10-in-12-signed-header-unsigned-stream": Case(
        JPEG2000Lossless, signed=True, precision=10, stream_signed=False
    ),
    "jpeg-2000-precision-10-in-12-unsigned-header-signed-stream": Case(JPEG2000Lossless, precision=10, stream_signed=True),
    "jpeg-2000-precision-10-in-12-signed": Case(JPEG2000Lossless, precision=10, signed=True),
    "jpeg-2000-precision-16-in-12-bits": Case(JPEG2000Lossless, precision=16, direct=False),
    "jpeg-2000-8": Case(JPEG2000Lossless, bits_allocated=8, bits_stored=8),
    "jpeg-2000-3-frames-2-fragments": Case(JPEG2000Lossless, signed=True, frames=3, fragments_per_frame=2),
}


def sample_values(case: Case, seed: int) -> np.ndarray:
    """(rows, columns) sample values of `case.sample_bits` bits, signed as the codestream holds them."""
    bits = case.sample_bits
    signed = case.signed if case.stream_signed is None else case.stream_signed
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)
    values = np.random.default_rng(seed).integers(low, high, size=(ROWS, COLUMNS))
    values[:4] = low  # the extremes, where a wrong sign or mask shows most
    values[4:8] = high - 1
    return values


def encode(case: Case, values: np.ndarray, seed: int) -> bytes:
    bits = case.sample_bits
    words = values & ((1 << bits) - 1)  # two's complement in `bits` bits
    if case.syntax == RLELossless:
        if case.garbage:
            garbage = np.random.default_rng(seed + 1).integers(0, 1 << (case.bits_allocated - bits), size=words.shape)
            words = words | (garbage << bits)
        array = words.astype(f"<u{case.bits_allocated // 8}")
        return next(encode_rle(array, rows=ROWS, columns=COLUMNS, samples_per_pixel=1, bits_allocated=case.bits_allocated,
                               byteorder="<", number_of_frames=1))
    if case.syntax == JPEGLosslessSV1:
        return encode_jpeg_lossless(words, bits)
    if case.syntax == JPEGLSLossless:
        return encode_jpeg_ls(words, bits)
    signed = case.signed if case.stream_signed is None else case.stream_signed
    array = values.astype(f"{'i' if signed else 'u'}{2 if bits > 8 else 1}")
    return encode_jpeg_2000(array, bits_stored=bits, photometric_interpretation=0, use_mct=False)


def write_file(path: Path, case: Case) -> Path:
    ds = base_dataset(SeriesSpec(), CTImageStorage, "1.2.3.4", "1.2.3.4.5", (path.name,))
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.SliceThickness = "1"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.BitsAllocated = case.bits_allocated
    ds.BitsStored = case.bits_stored
    ds.HighBit = case.bits_stored - 1
    ds.PixelRepresentation = int(case.signed)
    if case.frames > 1:
        ds.NumberOfFrames = case.frames
        ds.SpacingBetweenSlices = "1"
    frames = [encode(case, sample_values(case, seed), seed) for seed in range(case.frames)]
    ds.PixelData = encapsulate(frames, fragments_per_frame=case.fragments_per_frame, has_bot=case.has_bot)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = case.syntax
    ds.save_as(path, enforce_file_format=True)
    return path


def pydicom_frames(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    return ds.pixel_array.reshape(-1, ds.Rows, ds.Columns).astype(np.int64)


def histograms_of(image) -> list[tuple[list, list]]:
    return [(h.values.tolist(), h.counts.tolist()) for h in frame_histograms(image, range(len(image.frames)), COUNTING)]


@pytest.mark.parametrize("name", CASES)
def test_each_compressed_layout_decodes_directly_to_pydicoms_pixels(name, tmp_path, monkeypatch):
    case = CASES[name]
    path = write_file(tmp_path / f"{name}.dcm", case)
    image = read_image(SourceFile(path.name, path))
    expected = pydicom_frames(path)

    assert [as_stored for _, as_stored in iter_stored_frames(image, range(case.frames))] == [case.direct] * case.frames
    ours = np.stack([frame_stored_values(image, index) for index in range(case.frames)])
    assert np.array_equal(ours, expected)
    direct = histograms_of(image)
    with monkeypatch.context() as patched:
        patched.setattr(decoding, "direct_decoder", lambda layout: None)
        assert [as_stored for _, as_stored in iter_stored_frames(image, range(case.frames))] == [False] * case.frames
        assert histograms_of(image) == direct
    values, counts = np.unique(expected[0], return_counts=True)
    assert direct[0] == (values.tolist(), counts.tolist())


BUNDLED_MONOCHROME = (
    "693_J2KI.dcm",
    "J2K_pixelrep_mismatch.dcm",
    "JPEG2000.dcm",
    "JPEGLSNearLossless_08.dcm",
    "JPEGLSNearLossless_16.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
)


@pytest.mark.parametrize("name", BUNDLED_MONOCHROME)
def test_pydicoms_compressed_files_decode_directly_to_its_pixels(name):
    path = BUNDLED / name
    image = read_image(SourceFile(name, path))
    ours = np.stack([frame_stored_values(image, index) for index in range(len(image.frames))])
    assert decoding.direct_decoder(image.pixels) is not None
    assert np.array_equal(ours, pydicom_frames(path))


def test_a_series_read_in_two_processes_is_histogrammed_while_read_as_pydicom_decodes_it(tmp_path):
    for index in range(30):
        write_file(tmp_path / f"s{index:02d}.dcm", Case(JPEGLSLossless, signed=True))
    images = read_images(collect_paths([tmp_path]), processes=2, histograms=True).images
    assert len(images) == 30
    for image in images:
        values, counts = np.unique(pydicom_frames(image.path)[0], return_counts=True)
        [histogram] = image.histograms
        assert (histogram.values.tolist(), histogram.counts.tolist()) == (values.tolist(), counts.tolist())
    kept = [image for image in images if image.kept_frame is not None]  # the middle files, sent back decoded
    assert [image.name for image in kept] == [images[14].name, images[15].name]
    for image in kept:
        assert np.array_equal(frame_stored_values(image, 0), pydicom_frames(image.path)[0])


def test_a_frame_the_decoder_cannot_read_is_left_to_pydicom_which_says_why(tmp_path):
    path = write_file(tmp_path / "bad.dcm", Case(JPEGLSLossless))
    ds = pydicom.dcmread(path)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7\x00\x0b" + bytes(40)])
    ds.save_as(path)
    image = read_image(SourceFile(path.name, path))
    with pytest.raises(Exception, match="pyjpegls") as raised:
        frame_stored_values(image, 0)
    assert "the pixel data cannot be decoded" in str(raised.value)


@pytest.mark.parametrize("descending", [False, True])
def test_the_preview_uses_the_frame_kept_while_reading_and_equals_the_frame_decoded_again(tmp_path, monkeypatch, descending):
    phantom = Phantom(slices=6, rows=32, columns=32, noise_steps=3, seed=5)
    names = tuple(f"IM{(5 - k if descending else k):04d}" for k in range(6))  # listed in slice order, either way
    write_series(tmp_path, SeriesSpec(phantom=phantom, transfer_syntax=RLELossless, names=names))
    images = read_images(collect_paths([tmp_path]), histograms=True).images
    assert sorted(image.name for image in images if image.kept_frame is not None) == [f"{tmp_path.name}/IM0002", f"{tmp_path.name}/IM0003"]
    decoded_again = histogram_volume(split_into_volumes([replace(image, kept_frame=None) for image in images])[0])
    with monkeypatch.context() as patched:
        patched.setattr(decoding, "direct_decoder", lambda layout: pytest.fail("a frame decoded again"))
        kept = histogram_volume(split_into_volumes(images)[0])
    assert np.array_equal(kept.preview_value_index, decoded_again.preview_value_index)
    middle = pydicom.dcmread(tmp_path / names[3])  # slices[6 // 2] along the normal
    expected = np.searchsorted(kept.values, middle.pixel_array * float(middle.RescaleSlope) + float(middle.RescaleIntercept))
    assert np.array_equal(kept.preview_value_index, expected)


@pytest.mark.parametrize(
    "dtype, bits_stored, signed, as_stored",
    [("<u2", 12, False, True), ("<u2", 16, False, True), ("<i2", 12, True, True), ("<u2", 12, True, True),
     ("<i2", 16, True, False), ("<u2", 16, False, False), ("u1", 8, False, True), ("i1", 6, True, True)],
)
def test_the_preview_looked_up_by_word_gives_each_pixel_the_index_of_its_stored_value(dtype, bits_stored, signed, as_stored):
    """Every word (garbage above Bits Stored too) gets the index of its stored value, as a search for each pixel's value would."""
    rng = np.random.default_rng(bits_stored)
    width = np.dtype(dtype).itemsize * 8
    words = rng.integers(0, 1 << width, 5000).astype(f"u{width // 8}").view(dtype)
    layout = PixelLayout(
        transfer_syntax_uid=RLELossless, bits_allocated=width, bits_stored=bits_stored, signed=signed, float_pixels=False,
        photometric="MONOCHROME2", rows=50, columns=100, frames=1, native_offset=None, big_endian=False,
    )
    stored = stored_values(words, layout, as_stored)
    values = np.unique(stored)
    indices = rng.permutation(len(values)).astype(np.int32)  # any numbering of the values
    expected = indices[np.searchsorted(values, stored)]
    assert np.array_equal(word_value_indices(words, layout, as_stored, values, indices), expected)
    assert word_value_indices(words, layout, as_stored, values[1:], indices[1:]) is None  # a pixel's value missing
    assert word_value_indices(words.astype(np.float32), layout, as_stored, values, indices) is None
