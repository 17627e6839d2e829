"""pydicom's bundled test files, each through `manage.py measure`: a volume or a specific reason, never a crash.

The files are those inside the installed package (pydicom.data's test_files folder, dicomdirtests/
included); nothing is downloaded. Every file has its expected outcome in OUTCOMES, and the voxel
counts of the measured files are checked again here against pydicom's own pixel_array.
"""
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from django.core.management import call_command

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
MANAGE_PY = Path(__file__).resolve().parents[1] / "manage.py"
TINY_ALPHA_IMAGES = TEST_FILES / "dicomdirtests" / "TINY_ALPHA" / "PT000000" / "ST000000" / "SE000000"

VOLUME_TOLERANCE_MM3 = 5e-4
"""The table gives volumes to three decimals."""

THRESHOLD = 0.5


@dataclass(frozen=True)
class Measured:
    """One volume measured: its voxels above 0.5, and its volume or why there is none."""

    voxels_above: int
    volume_mm3: float | None = None
    reason: str | None = None
    slices: int = 1


@dataclass(frozen=True)
class Skipped:
    """Nothing measured: the file is listed as skipped with a reason holding `reason`."""

    reason: str


NOT_DICOM = Skipped("not a DICOM file (no DICOM preamble or header)")
DICOMDIR = Skipped("a DICOM directory (DICOMDIR) that lists other files; it holds no image")
HEADER_ONLY_CT = Skipped("no pixel data: labelled CT Image Storage, but the file holds only a header")
NO_THICKNESS = "a single slice without a usable Slice Thickness (0018,0050) or Spacing Between Slices"
NO_PIXEL_SPACING = "Pixel Spacing (0028,0030) is missing"
DETECTOR_SPACING = "only Imager Pixel Spacing (0018,1164) is given: it is the spacing at the detector"
LOCALISER = "a localiser (Image Type LOCALIZER): a projection that plans the scan, not a slice"
MR_SMALL = Measured(542, 42.344)  # 64×64, 0.3125 mm pixels, 0.8 mm thick: every encoding gives the same
RT_DOSE = Measured(739, 369_500.0, slices=15)  # 10×10×15 grid of 10 × 10 × 5 mm voxels
RT_DOSE_ONE_FRAME = Measured(50, reason=NO_THICKNESS)  # one dose plane has no depth
LIVER_SEGMENT = Measured(36_233, 23_804.590)  # a one-segment binary SEG: the segment's volume


def colour(photometric: str) -> Skipped:
    return Skipped(f"a colour image ({photometric}): colours cannot be thresholded as intensities")


OUTCOMES: dict[str, Measured | Skipped] = {
    # Grey-scale images: measured. Lone slices take their Slice Thickness.
    "693_J2KI.dcm": Measured(201_340, 230_511.712),
    "CT_small.dcm": Measured(2_933, 6_416.523),
    "J2K_pixelrep_mismatch.dcm": Measured(108_070, 100_375.956),  # signed header, unsigned J2K stream
    "MR_small.dcm": MR_SMALL,
    "MR_small_RLE.dcm": MR_SMALL,
    "MR_small_bigendian.dcm": MR_SMALL,
    "MR_small_expb.dcm": MR_SMALL,
    "MR_small_implicit.dcm": MR_SMALL,
    "MR_small_jp2klossless.dcm": MR_SMALL,
    "MR_small_jpeg_ls_lossless.dcm": MR_SMALL,
    "MR_small_padded.dcm": MR_SMALL,
    "examples_overlay.dcm": Measured(6_836, 14_299.057),
    "liver_1frame.dcm": LIVER_SEGMENT,
    "liver_expb_1frame.dcm": LIVER_SEGMENT,
    "rtdose.dcm": RT_DOSE,
    "rtdose_expb.dcm": RT_DOSE,
    "rtdose_rle.dcm": RT_DOSE,
    # Measured, but no volume: the depth or the pixel size is not given, and none is assumed.
    "JPEG2000.dcm": Measured(959, reason=NO_THICKNESS),
    "JPGExtended.dcm": Measured(635, reason=NO_THICKNESS),
    "JPEGLSNearLossless_08.dcm": Measured(50, reason=NO_PIXEL_SPACING),
    "JPEGLSNearLossless_16.dcm": Measured(50, reason=NO_PIXEL_SPACING),
    "image_dfl.dcm": Measured(131_072, reason=NO_PIXEL_SPACING),  # deflated transfer syntax
    "rtdose_1frame.dcm": RT_DOSE_ONE_FRAME,
    "rtdose_expb_1frame.dcm": RT_DOSE_ONE_FRAME,
    "rtdose_rle_1frame.dcm": RT_DOSE_ONE_FRAME,
    # Colour images.
    "ExplVR_BigEnd.dcm": colour("RGB"),
    "GDCMJ2K_TextGBR.dcm": colour("YBR_RCT"),
    "SC_jpeg_no_color_transform.dcm": colour("RGB"),
    "SC_jpeg_no_color_transform_2.dcm": colour("RGB"),
    "SC_rgb_dcmtk_+eb+cr.dcm": colour("RGB"),
    "SC_rgb_dcmtk_+eb+cy+n1.dcm": colour("YBR_FULL"),
    "SC_rgb_dcmtk_+eb+cy+n2.dcm": colour("YBR_FULL"),
    "SC_rgb_dcmtk_+eb+cy+np.dcm": colour("YBR_FULL_422"),
    "SC_rgb_dcmtk_+eb+cy+s2.dcm": colour("YBR_FULL_422"),
    "SC_rgb_dcmtk_+eb+cy+s4.dcm": colour("YBR_FULL"),
    "SC_rgb_gdcm_KY.dcm": colour("RGB"),
    "SC_rgb_jls_lossy_line.dcm": colour("RGB"),
    "SC_rgb_jls_lossy_sample.dcm": colour("RGB"),
    "SC_rgb_jpeg.dcm": colour("RGB"),
    "SC_rgb_jpeg_app14_dcmd.dcm": colour("RGB"),
    "SC_rgb_jpeg_dcmd.dcm": colour("RGB"),
    "SC_rgb_jpeg_dcmtk.dcm": colour("YBR_FULL"),
    "SC_rgb_jpeg_gdcm.dcm": colour("RGB"),
    "SC_rgb_jpeg_lossy_gdcm.dcm": colour("YBR_FULL"),
    "SC_rgb_rle.dcm": colour("RGB"),
    "SC_rgb_rle_16bit.dcm": colour("RGB"),
    "SC_rgb_rle_16bit_2frame.dcm": colour("RGB"),
    "SC_rgb_rle_2frame.dcm": colour("RGB"),
    "SC_rgb_rle_32bit.dcm": colour("RGB"),
    "SC_rgb_rle_32bit_2frame.dcm": colour("RGB"),
    "SC_rgb_small_odd.dcm": colour("RGB"),
    "SC_rgb_small_odd_big_endian.dcm": colour("RGB"),
    "SC_rgb_small_odd_jpeg.dcm": colour("YBR_FULL"),
    "SC_ybr_full_422_uncompressed.dcm": colour("YBR_FULL_422"),
    "examples_jpeg2k.dcm": colour("YBR_RCT"),
    "examples_palette.dcm": colour("PALETTE COLOR"),
    "examples_rgb_color.dcm": colour("RGB"),
    "examples_ybr_color.dcm": colour("YBR_FULL_422"),
    # Damaged pixel data or headers.
    "MR_truncated.dcm": Skipped("truncated pixel data: the file ends 62 bytes before the image does"),
    "JPEG-lossy.dcm": Skipped("the pixel data cannot be decoded (Unable to decode as exceptions were raised by all available plugins: gdcm: GDCM does not support 'JPEG Extended' for samples with 12-bit precision; pylibjpeg: libjpeg error code '-1038'"),
    "JPEG2000-embedded-sequence-delimiter.dcm": Skipped("the pixel data cannot be decoded (Unable to decode as exceptions were raised by all available plugins: pylibjpeg: Error decoding the J2K data: failed to read the header"),
    "badVR.dcm": Skipped("Number of Frames (0028,0008) is '1A', not a whole number"),
    "meta_missing_tsyntax.dcm": Skipped("pixel data without Rows (0028,0010) and Columns (0028,0011)"),
    "nested_priv_SQ.dcm": Skipped("pixel data without Rows (0028,0010) and Columns (0028,0011)"),
    # DICOM objects that are not images.
    "ExplVR_BigEndNoMeta.dcm": Skipped("no pixel data: RT Ion Plan Storage (a treatment plan) is not an image"),
    "ExplVR_LitEndNoMeta.dcm": Skipped("no pixel data: RT Ion Plan Storage (a treatment plan) is not an image"),
    "rtplan.dcm": Skipped("no pixel data: RT Plan Storage (a treatment plan) is not an image"),
    "rtplan_truncated.dcm": Skipped("no pixel data: RT Plan Storage (a treatment plan) is not an image"),
    "rtstruct.dcm": Skipped("no pixel data: RT Structure Set Storage (a set of contours) is not an image"),
    "reportsi.dcm": Skipped("no pixel data: Basic Text SR Storage (a structured report) is not an image"),
    "reportsi_with_empty_number_tags.dcm": Skipped("no pixel data: Basic Text SR Storage (a structured report)"),
    "test-SR.dcm": Skipped("no pixel data: Comprehensive SR Storage (a structured report) is not an image"),
    "waveform_ecg.dcm": Skipped("no pixel data: 12-lead ECG Waveform Storage (a waveform) is not an image"),
    "UN_sequence.dcm": HEADER_ONLY_CT,
    "priv_SQ.dcm": Skipped("no pixel data: labelled MR Image Storage, but the file holds only a header"),
    "no_meta_group_length.dcm": Skipped("no pixel data: labelled RT Image Storage, but the file holds only a header"),
    "empty_charset_LEI.dcm": Skipped("no pixel data, and no SOP Class UID to say what the file holds"),
    # Not DICOM at all. no_meta.dcm starts with a stray byte before its first element: pydicom refuses it too.
    "no_meta.dcm": NOT_DICOM,
    "README.txt": NOT_DICOM,
    "crayons.icc": NOT_DICOM,
    "rtplan.dump": NOT_DICOM,
    "rtstruct.dump": NOT_DICOM,
    "test1.json": NOT_DICOM,
    "test_PN.json": NOT_DICOM,
    "zipMR.gz": Skipped("not a DICOM file but gzip-compressed data: only .zip archives are unpacked"),
    # dicomdirtests/: directories, and 16×16 images cut from real series, each measured alone.
    "dicomdirtests/DICOMDIR": DICOMDIR,
    "dicomdirtests/DICOMDIR-bigEnd": DICOMDIR,
    "dicomdirtests/DICOMDIR-empty.dcm": DICOMDIR,
    "dicomdirtests/DICOMDIR-implicit": DICOMDIR,
    "dicomdirtests/DICOMDIR-nooffset": DICOMDIR,
    "dicomdirtests/DICOMDIR-nopatient": DICOMDIR,
    "dicomdirtests/DICOMDIR-reordered": DICOMDIR,
    "dicomdirtests/TINY_ALPHA/DICOMDIR": DICOMDIR,
    "dicomdirtests/README.txt": NOT_DICOM,
    "dicomdirtests/TINY_ALPHA/README": NOT_DICOM,
    # Computed radiographs: counted, but their only spacing is the detector's.
    "dicomdirtests/77654033/CR1/6154": Measured(218, reason=DETECTOR_SPACING),
    "dicomdirtests/77654033/CR2/6247": Measured(157, reason=DETECTOR_SPACING),
    "dicomdirtests/77654033/CR3/6278": Measured(78, reason=DETECTOR_SPACING),
    "dicomdirtests/77654033/CT2/17106": Measured(84, 25.034),
    "dicomdirtests/77654033/CT2/17136": Measured(79, 23.544),
    "dicomdirtests/77654033/CT2/17166": Measured(252, 75.102),
    "dicomdirtests/77654033/CT2/17196": Measured(98, 29.206),
    # CT scouts with a Slice Thickness of 650 mm: a projection, no volume.
    "dicomdirtests/98892001/CT2N/6293": Measured(216, reason=LOCALISER),
    "dicomdirtests/98892001/CT2N/6924": Measured(24, reason=LOCALISER),
    "dicomdirtests/98892001/CT5N/2062": Measured(151, 90.003),
    "dicomdirtests/98892001/CT5N/2392": Measured(195, 116.229),
    "dicomdirtests/98892001/CT5N/2693": Measured(244, 145.435),
    "dicomdirtests/98892001/CT5N/3023": Measured(160, 95.367),
    "dicomdirtests/98892001/CT5N/3353": Measured(95, 56.624),
    "dicomdirtests/98892003/MR1/15820": Measured(184, 3_439.334),
    "dicomdirtests/98892003/MR1/4919": Measured(239, 4_467.395),
    "dicomdirtests/98892003/MR1/5641": Measured(217, 4_056.171),
    "dicomdirtests/98892003/MR2/15970": Measured(169, 3_158.953),
    "dicomdirtests/98892003/MR2/4950": Measured(243, 3_337.097),
    "dicomdirtests/98892003/MR2/4981": Measured(236, 3_240.967),
    "dicomdirtests/98892003/MR2/5011": Measured(168, 2_307.129),
    "dicomdirtests/98892003/MR2/6273": Measured(238, 3_268.433),
    "dicomdirtests/98892003/MR2/6605": Measured(180, 2_471.924),
    "dicomdirtests/98892003/MR2/6935": Measured(225, 3_089.905),
    "dicomdirtests/98892003/MR700/4467": Measured(60, 10.986),
    "dicomdirtests/98892003/MR700/4528": Measured(13, 2.380),
    "dicomdirtests/98892003/MR700/4558": Measured(82, 15.015),
    "dicomdirtests/98892003/MR700/4588": Measured(28, 5.127),
    "dicomdirtests/98892003/MR700/4618": Measured(229, 41.931),
    "dicomdirtests/98892003/MR700/4648": Measured(120, 21.973),
    "dicomdirtests/98892003/MR700/4678": Measured(117, 21.423),
    # TINY_ALPHA's 50 CT images are headers without pixel data, listed by a DICOMDIR.
    **{
        str(path.relative_to(TEST_FILES)): HEADER_ONLY_CT
        for path in sorted(TINY_ALPHA_IMAGES.iterdir())
        if path.name.startswith("IM")
    },
}

MEASURED = sorted(name for name, outcome in OUTCOMES.items() if isinstance(outcome, Measured))


def bundled_files() -> set[str]:
    return {str(path.relative_to(TEST_FILES)) for path in TEST_FILES.rglob("*") if path.is_file()}


def run_measure(*args: str) -> tuple[int, dict]:
    """`manage.py measure ARGS --json`: the exit status and the JSON printed."""
    stdout = io.StringIO()
    status = 0
    try:
        call_command("measure", *args, "--json", stdout=stdout, stderr=io.StringIO())
    except SystemExit as exit_:
        status = exit_.code
    return status, json.loads(stdout.getvalue())


def test_the_table_names_every_bundled_file_and_no_other():
    assert len(list(TINY_ALPHA_IMAGES.iterdir())) == 50
    assert bundled_files() == set(OUTCOMES)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_each_bundled_file_gives_its_volume_or_its_reason(name):
    expected = OUTCOMES[name]
    status, report = run_measure(str(TEST_FILES / name))

    if isinstance(expected, Skipped):
        assert status == 2
        assert report["series"] == []
        [skipped] = report["skipped"]
        assert skipped["file"] == Path(name).name
        assert expected.reason in skipped["reason"]
        return
    assert status == 0
    assert report["skipped"] == []
    [series] = report["series"]
    assert series["slices"] == expected.slices
    assert series["threshold"] == THRESHOLD
    assert series["voxels_above"] == expected.voxels_above
    if expected.reason is None:
        assert series["volume_unavailable_reason"] is None
        assert series["volume_mm3"] == pytest.approx(expected.volume_mm3, abs=VOLUME_TOLERANCE_MM3)
        assert series["volume_ml"] == pytest.approx(series["volume_mm3"] / 1000)
    else:
        assert expected.reason in series["volume_unavailable_reason"]
        assert series["volume_mm3"] is None
        assert series["volume_ml"] is None


def modality_values(ds: pydicom.Dataset) -> np.ndarray:
    """Every voxel's stored value × Rescale Slope (RT Dose: Dose Grid Scaling) + Rescale Intercept."""
    slope = float(ds.get("RescaleSlope", ds.get("DoseGridScaling", 1)) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return ds.pixel_array.astype(np.float64) * slope + intercept


def independent_voxels_above(ds: pydicom.Dataset) -> int:
    values = modality_values(ds)
    normalised = (values - values.min()) / (values.max() - values.min())
    return int(np.count_nonzero(normalised > THRESHOLD))


def independent_volume_mm3(ds: pydicom.Dataset, voxels: int) -> float:
    """Voxels × pixel area × depth: a lone slice's Slice Thickness, or the even gap of a dose grid."""
    if "SharedFunctionalGroupsSequence" in ds:
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    else:
        measures = ds
    row_mm, column_mm = (float(v) for v in measures.PixelSpacing)
    if int(ds.get("NumberOfFrames") or 1) > 1:
        gaps_mm = np.diff([float(v) for v in ds.GridFrameOffsetVector])
        assert np.allclose(gaps_mm, gaps_mm[0])  # an even grid: every slab is one gap wide
        depth_mm = float(gaps_mm[0])
    else:
        depth_mm = float(measures.SliceThickness)
    return voxels * row_mm * column_mm * depth_mm


@pytest.mark.parametrize("name", MEASURED)
@pytest.mark.filterwarnings("ignore:The pixel data is 8320 bytes long")  # MR_small_padded.dcm
def test_the_table_agrees_with_pydicoms_own_pixels(name):
    expected = OUTCOMES[name]
    ds = pydicom.dcmread(TEST_FILES / name)

    assert independent_voxels_above(ds) == expected.voxels_above
    if expected.volume_mm3 is not None:
        assert independent_volume_mm3(ds, expected.voxels_above) == pytest.approx(
            expected.volume_mm3, abs=VOLUME_TOLERANCE_MM3
        )


def test_the_dicomdirtests_folder_at_once_groups_series_and_splits_localisers():
    status, report = run_measure(str(TEST_FILES / "dicomdirtests"))

    assert status == 0
    assert len(report["series"]) == 24
    assert len(report["skipped"]) == 60  # 8 DICOMDIRs, 2 READMEs, 50 header-only images
    brain = next(series for series in report["series"] if series["description"] == "Routine Brain")
    assert brain["slices"] == 4
    assert "uneven slice spacing: gaps from 1.250 to 202.500 mm" in brain["warnings"][0]
    stacked = np.stack(
        [modality_values(pydicom.dcmread(path)) for path in sorted((TEST_FILES / "dicomdirtests/77654033/CT2").iterdir())]
    )
    normalised = (stacked - stacked.min()) / (stacked.max() - stacked.min())
    assert brain["voxels_above"] == int(np.count_nonzero(normalised > THRESHOLD))
    scouts = sorted(series["description"] for series in report["series"] if series["description"].startswith("Scout"))
    assert [description.split(",")[0] for description in scouts] == ["Scout [coronal", "Scout [sagittal"]
    assert all(
        LOCALISER in series["volume_unavailable_reason"]
        for series in report["series"]
        if series["description"].startswith("Scout")
    )


def test_the_whole_folder_in_one_run_prints_no_traceback_and_no_warning():
    """pydicom logs each failing decoder's traceback and warns about odd headers; the command keeps them out."""
    completed = subprocess.run(
        [sys.executable, str(MANAGE_PY), "measure", str(TEST_FILES), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0
    assert completed.stderr == ""
    report = json.loads(completed.stdout)
    reasons = [skipped["reason"] for skipped in report["skipped"]]
    assert any("misplaced marker segment" in reason for reason in reasons)  # JPEG-lossy.dcm was decoded, and failed
    assert sum(series["voxels_above"] for series in report["series"]) > 0
