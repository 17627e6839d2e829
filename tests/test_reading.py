"""Pixel data in every form users bring: transfer syntaxes, bit depths, signs, rescale, photometric
interpretations, multi-frame objects; and the files that must be refused or skipped, with the reason.

The phantoms are written by tests/phantoms.py (default phantom: box A of 168 voxels at 40 holding
box B of 12 voxels at 1000, background −1000, pixel spacing 0.5 × 0.75 mm, slices 2.5 mm apart):
normalised 0.5 (modality 0) → 168 voxels, 168 × 0.5 × 0.75 × 2.5 = 157.5 mm³.
"""
import io
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from volumes.imaging.grouping import split_into_volumes
from volumes.imaging.histograms import histogram_volume
from volumes.imaging.measure import measure_histogram
from volumes.imaging.reader import read_image
from volumes.imaging.render import preview_png
from volumes.imaging.sources import SourceFile
from volumes.imaging.thresholds import ThresholdRequest

from .jpeg_encoders import encode_jpeg_lossless, encode_jpeg_ls
from .phantoms import (
    Box,
    Phantom,
    SeriesSpec,
    truncate,
    write_classic_multiframe,
    write_colour,
    write_decoded_twin,
    write_enhanced,
    write_rt_dose,
    write_series,
)
from .pipeline import measure

BOX_A_VOXELS = 168
BOX_B_VOXELS = 12
PIXEL_MM2 = 0.5 * 0.75
BOX_A_MM3 = BOX_A_VOXELS * PIXEL_MM2 * 2.5

LOSSLESS_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLossless,
]
# JPEG 2000's six resolution levels need at least 32 × 32 pixels.
LARGE = Phantom(rows=32, columns=32)
NOISY = Phantom(rows=32, columns=32, noise_steps=3, noise_step=4.0, seed=11)
NOISY_8_BIT = replace(NOISY, noise_step=10.0)  # stored = (modality + 1100) / 10 stays whole and in 7..213
MODES = [("normalized", 0.5), ("normalized", 0.51), ("modality", 40.0), ("modality", -1000.0), ("otsu", None)]


def syntax_id(uid: str) -> str:
    return UID(uid).keyword


def figures(result):
    return result.voxels_above, result.volume_mm3, result.threshold_modality, result.slices


# --- transfer syntaxes ----------------------------------------------------------------------------


@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES, ids=syntax_id)
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_every_lossless_transfer_syntax_gives_the_box_volume(tmp_path, syntax, signed):
    spec = SeriesSpec(phantom=LARGE, signed=signed, intercepts=0.0 if signed else -1024.0, transfer_syntax=syntax)
    write_series(tmp_path, spec)
    result = measure(tmp_path).only
    assert result.voxels_above == BOX_A_VOXELS
    assert result.volume_mm3 == pytest.approx(BOX_A_MM3, rel=1e-12)
    assert result.warnings == ()


@pytest.mark.parametrize("syntax", LOSSLESS_SYNTAXES[1:], ids=syntax_id)
def test_a_losslessly_compressed_series_gives_exactly_the_figures_of_its_uncompressed_twin(tmp_path, syntax):
    spec = SeriesSpec(phantom=NOISY, slopes=(1.0, 2.0, 4.0, 0.5, 1.0, 2.0), intercepts=-1000.0, signed=True)
    write_series(tmp_path / "twin", spec)
    write_series(tmp_path / "encoded", replace(spec, transfer_syntax=syntax))
    values = NOISY.modality()
    for mode, value in MODES:
        twin = measure(tmp_path / "twin", mode, value).only
        encoded = measure(tmp_path / "encoded", mode, value).only
        assert figures(encoded) == figures(twin)
        assert encoded.voxels_above == int((values > twin.threshold_modality).sum())


@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEGExtended12Bit], ids=syntax_id)
def test_a_lossy_jpeg_series_gives_exactly_the_figures_of_its_decoded_pixels_written_uncompressed(tmp_path, syntax):
    spec = SeriesSpec(
        phantom=NOISY_8_BIT, signed=False, bits_allocated=8, slopes=10.0, intercepts=-1100.0, transfer_syntax=syntax
    )
    paths = write_series(tmp_path / "jpeg", spec)
    (tmp_path / "twin").mkdir()
    for path in paths:
        write_decoded_twin(path, tmp_path / "twin" / path.name)
    for mode, value in MODES:
        encoded = measure(tmp_path / "jpeg", mode, value).only
        twin = measure(tmp_path / "twin", mode, value).only
        assert figures(encoded) == figures(twin)
    assert measure(tmp_path / "jpeg", "modality", -1000.0).only.voxels_above > 0


def test_the_test_encoders_round_trip_through_the_installed_decoders(tmp_path):
    """JPEG Lossless SV1 and JPEG-LS are encoded by tests/jpeg_encoders.py; pydicom must read them back exactly."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 4096, size=(20, 30))
    frame[5:15, 2:28] = 1234  # runs for JPEG-LS's run mode
    for encoder, syntax in ((encode_jpeg_ls, JPEGLSLossless), (encode_jpeg_lossless, JPEGLosslessSV1)):
        ds = pydicom.dcmread(write_series(tmp_path / syntax_id(syntax), SeriesSpec(phantom=Phantom(slices=1)))[0])
        ds.Rows, ds.Columns, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 20, 30, 12, 11, 0
        ds.PixelData = encapsulate([encoder(frame, 12)])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        assert np.array_equal(ds.pixel_array, frame)


PYDICOM_TWINS = [
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
]


@pytest.mark.parametrize("name", PYDICOM_TWINS)
def test_pydicom_s_encodings_of_one_mr_slice_measure_exactly_like_the_uncompressed_file(name):
    reference = measure(get_testdata_file("MR_small.dcm")).only
    encoded = measure(get_testdata_file(name)).only
    assert figures(encoded) == figures(reference)
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    pixels = ds.pixel_array.astype(np.float64)
    normalised = (pixels - pixels.min()) / (pixels.max() - pixels.min())
    assert reference.voxels_above == int((normalised > 0.5).sum())
    assert reference.volume_mm3 == pytest.approx(reference.voxels_above * 0.3125 * 0.3125 * 0.8, rel=1e-12)


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG2000.dcm", "JPEGLSNearLossless_16.dcm"])
def test_pydicom_s_lossy_files_measure_exactly_like_their_decoded_pixels(tmp_path, name):
    twin = write_decoded_twin(get_testdata_file(name), tmp_path / "twin.dcm")
    for mode, value in MODES:
        encoded = measure(get_testdata_file(name), mode, value).only
        assert figures(encoded) == figures(measure(twin, mode, value).only)
        assert encoded.volume_unavailable_reason == measure(twin, mode, value).only.volume_unavailable_reason


# --- stored values: sign, bits, rescale, photometric ------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        SeriesSpec(signed=True),
        SeriesSpec(signed=False, intercepts=-1024.0),
        SeriesSpec(signed=True, bits_stored=12, garbage_bits=True),
        SeriesSpec(signed=False, bits_stored=12, garbage_bits=True, intercepts=-1024.0),
        SeriesSpec(signed=False, bits_stored=10, garbage_bits=True, slopes=2.0, intercepts=-1000.0),
        SeriesSpec(signed=True, bits_stored=12, garbage_bits=True, transfer_syntax=ExplicitVRBigEndian),
        SeriesSpec(signed=True, bits_stored=12, garbage_bits=True, transfer_syntax=ImplicitVRLittleEndian),
        SeriesSpec(signed=True, bits_stored=12, garbage_bits=True, transfer_syntax=DeflatedExplicitVRLittleEndian),
        SeriesSpec(signed=True, bits_stored=12, transfer_syntax=JPEGLSLossless),
        SeriesSpec(signed=True, bits_stored=12, transfer_syntax=RLELossless),
        SeriesSpec(signed=False, bits_allocated=8, slopes=10.0, intercepts=-1000.0),
        SeriesSpec(signed=True, bits_allocated=8, slopes=10.0, intercepts=0.0),
        SeriesSpec(signed=True, bits_allocated=8, bits_stored=7, garbage_bits=True, slopes=20.0, intercepts=0.0),
        SeriesSpec(signed=True, write_rescale=False),
        SeriesSpec(signed=False, slopes=(1.0, 2.0, 4.0, 0.5, 1.0, 2.0), intercepts=(-1000.0, -1000.0, -1000.0, -1024.0, -2000.0, -1000.0)),
    ],
    ids=[
        "int16",
        "uint16",
        "int12-in-16-garbage-high-bits",
        "uint12-in-16-garbage-high-bits",
        "uint10-in-16-slope-2",
        "int12-big-endian",
        "int12-implicit",
        "int12-deflated",
        "int12-jpeg-ls",
        "int12-rle",
        "uint8-slope-10",
        "int8-slope-10",
        "int7-in-8-garbage-high-bit",
        "no-rescale-tags",
        "rescale-differs-per-slice",
    ],
)
def test_signed_unsigned_partial_bits_and_rescale_give_the_box_volume(tmp_path, spec):
    write_series(tmp_path, spec)
    result = measure(tmp_path).only
    assert result.voxels_above == BOX_A_VOXELS
    assert result.volume_mm3 == pytest.approx(BOX_A_MM3, rel=1e-12)
    assert result.stats["max"] == 1000.0
    assert measure(tmp_path, "modality", 40.0).only.voxels_above == BOX_B_VOXELS


def test_rescale_that_differs_per_slice_is_normalised_on_modality_values_not_stored_ones(tmp_path):
    # Stored values differ wildly between slices (slope 0.25 to 4); the modality values do not.
    spec = SeriesSpec(signed=False, slopes=(0.25, 4.0, 0.25, 4.0, 0.25, 4.0), intercepts=-1000.0)
    write_series(tmp_path, spec)
    result = measure(tmp_path, "normalized", 0.5).only
    assert (result.voxels_above, result.threshold_modality) == (BOX_A_VOXELS, 0.0)
    assert measure(tmp_path, "normalized", 0.52).only.voxels_above == BOX_B_VOXELS  # (40 + 1000) / 2000 = 0.52


def test_monochrome1_thresholds_the_modality_values_warns_and_shows_the_preview_inverted(tmp_path):
    write_series(tmp_path / "m1", SeriesSpec(photometric="MONOCHROME1"))
    write_series(tmp_path / "m2", SeriesSpec(photometric="MONOCHROME2"))
    inverted = measure(tmp_path / "m1").only
    plain = measure(tmp_path / "m2").only
    assert figures(inverted) == figures(plain) == (BOX_A_VOXELS, pytest.approx(BOX_A_MM3), 0.0, 6)
    assert inverted.warnings == (
        "MONOCHROME1: low values display bright; thresholds apply to the modality values, so 'above' "
        "means higher values, which this image shows darker",
    )
    assert plain.warnings == ()
    corners = []
    for folder in ("m1", "m2"):
        images = [read_image(SourceFile(p.name, p)) for p in sorted((tmp_path / folder).iterdir())]
        histogram = histogram_volume(split_into_volumes(images)[0])
        _, above = measure_histogram(histogram, ThresholdRequest("normalized", 0.5))
        picture = Image.open(io.BytesIO(preview_png(histogram, above))).convert("L")
        corners.append(picture.getpixel((0, 0)))  # background, −1000
    assert corners[0] > 200 and corners[1] < 50


def preview_of(folder, max_pixels: int) -> tuple[Image.Image, object]:
    images = [read_image(SourceFile(p.name, p)) for p in sorted(folder.iterdir())]
    histogram = histogram_volume(split_into_volumes(images)[0])
    result, above = measure_histogram(histogram, ThresholdRequest("normalized", 0.5))
    return Image.open(io.BytesIO(preview_png(histogram, above, max_pixels=max_pixels))), result


def test_the_preview_tints_exactly_the_voxels_of_the_middle_slice_above_the_threshold(tmp_path):
    spec = SeriesSpec(pixel_spacing=(0.5, 0.5))  # square pixels: drawn at its own size, 10 × 12
    write_series(tmp_path, spec)
    picture, result = preview_of(tmp_path, max_pixels=spec.phantom.rows)
    assert picture.format == "PNG" and picture.size == (spec.phantom.columns, spec.phantom.rows)
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    tinted = (rgb[..., 0] > rgb[..., 1]) & (rgb[..., 1] > rgb[..., 2])
    grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])
    assert (tinted | grey).all()
    # The middle slice along the normal (positions step along z here), read by pydicom.
    datasets = sorted((pydicom.dcmread(p) for p in tmp_path.iterdir()), key=lambda ds: float(ds.ImagePositionPatient[2]))
    middle = datasets[len(datasets) // 2]
    modality = middle.pixel_array * float(middle.RescaleSlope) + float(middle.RescaleIntercept)
    assert tinted.tolist() == (modality > result.threshold_modality).tolist()
    assert 0 < tinted.sum() < tinted.size


def test_the_preview_keeps_the_physical_aspect_ratio(tmp_path):
    write_series(tmp_path, SeriesSpec(pixel_spacing=(0.5, 0.75)))  # 12 rows of 0.5 mm, 10 columns of 0.75 mm
    picture, _ = preview_of(tmp_path, max_pixels=300)
    assert picture.size == (300, 240)  # 7.5 mm wide, 6 mm high


# --- multi-frame objects ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["CT", "MR", "PT"])
def test_an_enhanced_multiframe_image_takes_positions_spacing_and_rescale_from_its_functional_groups(tmp_path, kind):
    spec = SeriesSpec(signed=False, slopes=(1.0, 2.0, 4.0, 0.5, 1.0, 2.0), intercepts=(-1000.0, -1000.0, -1000.0, -1024.0, -2000.0, -1000.0))
    write_enhanced(tmp_path / "enhanced.dcm", spec, kind=kind)  # frames stored out of geometric order
    result = measure(tmp_path).only
    assert (result.slices, result.voxels_above) == (6, BOX_A_VOXELS)
    assert result.volume_mm3 == pytest.approx(BOX_A_MM3, rel=1e-12)
    assert result.warnings == ()
    assert measure(tmp_path, "modality", 40.0).only.voxels_above == BOX_B_VOXELS


def test_an_enhanced_multiframe_image_with_uneven_frames_uses_the_slab_rule(tmp_path):
    write_enhanced(tmp_path / "enhanced.dcm", SeriesSpec(offsets_mm=(0, 1, 2, 9, 10, 17)), kind="CT")
    result = measure(tmp_path).only
    assert result.volume_mm3 == pytest.approx(42 * (1 + 4 + 4 + 4) * PIXEL_MM2)  # slabs 1, 1, 4, 4, 4, 7
    assert "gaps from 1.000 to 7.000 mm" in result.warnings[0]


DOSE = Phantom(background=0.0, boxes=(Box((1, 5), (2, 9), (2, 8), 20.0), Box((2, 4), (4, 6), (3, 6), 60.0)))


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-offsets", "absolute-offsets"])
@pytest.mark.parametrize(
    "offsets_mm", [(0, 2.5, 5, 7.5, 10, 12.5), (0, -2.5, -5, -7.5, -10, -12.5)], ids=["ascending", "descending"]
)
@pytest.mark.parametrize("bits", [32, 16])
def test_rt_dose_above_half_the_maximum_dose_uses_the_grid_frame_offsets_and_dose_grid_scaling(tmp_path, absolute, offsets_mm, bits):
    spec = SeriesSpec(phantom=DOSE, signed=False, bits_allocated=bits, offsets_mm=offsets_mm)
    write_rt_dose(tmp_path / "dose.dcm", spec, dose_grid_scaling=0.001, absolute=absolute)
    result = measure(tmp_path).only  # half of 60 Gy: the 12 voxels of 60 Gy
    assert (result.slices, result.voxels_above) == (6, BOX_B_VOXELS)
    assert result.volume_mm3 == pytest.approx(BOX_B_VOXELS * PIXEL_MM2 * 2.5, rel=1e-12)
    assert result.threshold_modality == pytest.approx(30.0)
    assert result.stats["max"] == pytest.approx(60.0)
    assert measure(tmp_path, "modality", 10.0).only.voxels_above == BOX_A_VOXELS


def test_a_classic_multiframe_image_steps_its_frames_by_spacing_between_slices_and_says_so(tmp_path):
    write_classic_multiframe(tmp_path / "frames.dcm", SeriesSpec(spacing_between_slices=2.5))
    result = measure(tmp_path).only
    assert (result.slices, result.voxels_above) == (6, BOX_A_VOXELS)
    assert result.volume_mm3 == pytest.approx(BOX_A_MM3)
    assert result.warnings == (
        "the frames carry no positions of their own: taken as consecutive slices 2.5 mm apart (Spacing Between Slices)",
    )


def test_a_classic_multiframe_image_without_spacing_between_slices_gives_no_volume_and_says_why(tmp_path):
    write_classic_multiframe(tmp_path / "frames.dcm", SeriesSpec())
    result = measure(tmp_path).only
    assert result.voxels_above == BOX_A_VOXELS
    assert result.volume_mm3 is None
    assert result.volume_unavailable_reason == (
        "a multi-frame image whose frames carry no positions and no Spacing Between Slices: "
        "the slices cannot be ordered or spaced"
    )


# --- refused and skipped ----------------------------------------------------------------------------


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL", "PALETTE COLOR"])
def test_a_colour_image_is_refused_with_the_reason(tmp_path, photometric):
    write_series(tmp_path, SeriesSpec())
    write_colour(tmp_path / "colour.dcm", photometric)
    outcome = measure(tmp_path)
    assert outcome.skipped == {
        "colour.dcm": f"a colour image ({photometric}): colours cannot be thresholded as intensities"
    }
    assert outcome.only.voxels_above == BOX_A_VOXELS


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian], ids=syntax_id)
def test_a_file_with_truncated_pixel_data_is_skipped_with_the_reason_and_the_rest_measured(tmp_path, syntax):
    paths = write_series(tmp_path, SeriesSpec(transfer_syntax=syntax, names=tuple(f"s{k}" for k in range(6))))
    truncate(paths[0], 10)  # slice 0 holds only background
    outcome = measure(tmp_path)
    assert outcome.skipped == {"s0": "truncated pixel data: the file ends 10 bytes before the image does"}
    assert (outcome.only.slices, outcome.only.voxels_above) == (5, BOX_A_VOXELS)
    assert outcome.only.volume_mm3 == pytest.approx(BOX_A_MM3)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=syntax_id)
def test_a_compressed_file_cut_short_is_skipped_as_truncated(tmp_path, syntax):
    paths = write_series(tmp_path, SeriesSpec(phantom=LARGE, transfer_syntax=syntax, names=tuple(f"s{k}" for k in range(6))))
    truncate(paths[0], 20)
    outcome = measure(tmp_path)
    assert list(outcome.skipped) == ["s0"]
    assert outcome.skipped["s0"].startswith("truncated pixel data")
    assert (outcome.only.slices, outcome.only.voxels_above) == (5, BOX_A_VOXELS)


def test_a_multiframe_file_with_fewer_frames_than_it_declares_is_skipped_with_the_reason(tmp_path):
    path = write_classic_multiframe(tmp_path / "frames.dcm", SeriesSpec(spacing_between_slices=2.5))
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = 7
    ds.save_as(path)
    assert measure(tmp_path).skipped == {
        "frames.dcm": "truncated pixel data: 1,440 bytes where Rows × Columns × frames (12 × 10 × 7) at 16 bits need 1,680"
    }


def test_a_compressed_file_whose_data_cannot_be_decoded_is_left_out_with_a_warning_naming_it(tmp_path):
    paths = write_series(tmp_path, SeriesSpec(transfer_syntax=JPEGLSLossless, names=tuple(f"s{k}" for k in range(6))))
    ds = pydicom.dcmread(paths[0])
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7\x00\x0b" + bytes(40)])
    ds.save_as(paths[0])
    result = measure(tmp_path).only
    assert (result.slices, result.voxels_above) == (5, BOX_A_VOXELS)
    assert any(w.startswith(f"left out {tmp_path.name}/s0: the pixel data cannot be decoded") for w in result.warnings)
