"""`manage.py measure`: the measurement on files, folders and zips, as JSON or text, without the database."""
import io
import json
import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from volumes import figures

from .conftest import (
    INVALID_FILES,
    PHANTOM_DIR,
    PHANTOM_VOLUME_MM3,
    PHANTOM_VOXELS,
    SEED_FILE,
    SEED_VOLUME_MM3,
    SEED_VOXELS,
)
from .phantoms import write_time_points
from .test_body import BODY, BODY_LATER, HOLE, PATIENT, PATIENT_LATER

MANAGE_PY = Path(__file__).resolve().parents[1] / "manage.py"
SEED_PIXEL_MM = 0.9765625
SEED_THICKNESS_MM = 3.0
PHANTOM_TOLERANCE_MM3 = 0.005
"""The phantom's reference volume is given to two decimals."""

SERIES_KEYS = {
    # issue 15: range and body only
    "threshold_upper",
    "threshold_upper_modality",
    "body_only",
    # issue 2
    "series_instance_uid",
    "modality",
    "description",
    "slices",
    "rows",
    "columns",
    "pixel_spacing_mm",
    "slab_mm",
    "threshold",
    "threshold_modality",
    "voxels_above",
    "total_voxels",
    "volume_mm3",
    "volume_ml",
    "warnings",
    "volume_unavailable_reason",
    # issue 3
    "mode",
    "stats",
    # issue 10: which contrast of the series, and each time point's figures (null with one)
    "volume_label",
    "time_points",
}


def measure(*args: str) -> tuple[int, dict]:
    """`manage.py measure ARGS --json`: the exit status and the JSON object printed."""
    status, text = measure_text(*args, "--json")
    return status, json.loads(text)


def measure_text(*args: str) -> tuple[int, str]:
    """`manage.py measure ARGS`: the exit status and what was printed."""
    stdout = io.StringIO()
    try:
        call_command("measure", *[str(a) for a in args], stdout=stdout, stderr=io.StringIO(), no_color=True)
    except SystemExit as exit_:
        return exit_.code, stdout.getvalue()
    return 0, stdout.getvalue()


def seed_hounsfield() -> np.ndarray:
    """The seed slice in modality units, straight from pydicom."""
    ds = pydicom.dcmread(SEED_FILE)
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def seed_copy(tmp_path: Path, name: str, **changes) -> Path:
    """The seed file with header elements removed (value None) or replaced, written under tmp_path."""
    ds = pydicom.dcmread(SEED_FILE)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    path = tmp_path / name
    ds.save_as(path)
    return path


# --- the seed file ------------------------------------------------------------------------------


def test_the_seed_file_gives_the_challenge_figures_as_json():
    status, report = measure(SEED_FILE)

    assert status == 0
    [series] = report["series"]
    assert series["voxels_above"] == SEED_VOXELS
    assert series["volume_mm3"] == pytest.approx(SEED_VOLUME_MM3, rel=1e-12)
    assert series["volume_ml"] == pytest.approx(SEED_VOLUME_MM3 / 1000, rel=1e-12)
    assert (series["slices"], series["rows"], series["columns"], series["total_voxels"]) == (1, 512, 512, 262_144)
    assert series["pixel_spacing_mm"] == [SEED_PIXEL_MM, SEED_PIXEL_MM]
    assert series["slab_mm"] == {"min": SEED_THICKNESS_MM, "max": SEED_THICKNESS_MM, "mean": SEED_THICKNESS_MM}
    assert (series["mode"], series["threshold"], series["modality"]) == ("normalized", 0.5, "CT")
    assert series["volume_unavailable_reason"] is None
    assert report["skipped"] == []


def test_the_seed_file_gives_the_challenge_figures_as_text():
    status, text = measure_text(SEED_FILE)

    assert status == 0
    assert "1 slice(s) of 512×512, pixel spacing 0.976562 × 0.976562 mm, slab 3 mm" in text
    assert "threshold (normalized): 0.5 normalised = -26 in modality units" in text
    assert "voxels above: 50,080 of 262,144" in text
    assert "volume: 143,280 mm³ (143.280 mL)" in text  # mm³ to 3 decimals of a mL
    assert text.rstrip().endswith("1 volume(s) measured, 0 file(s) skipped")


def test_the_json_has_exactly_the_fields_the_issues_list():
    status, report = measure(SEED_FILE, *INVALID_FILES)

    assert status == 0
    assert set(report) == {"series", "skipped"}
    [series] = report["series"]
    assert set(series) == SERIES_KEYS
    assert set(series["slab_mm"]) == {"min", "max", "mean"}
    assert set(series["stats"]) == {"mean", "std", "min", "max", "median"}
    assert isinstance(series["warnings"], list)
    assert [set(skipped) for skipped in report["skipped"]] == [{"file", "reason"}, {"file", "reason"}]


def test_the_stats_are_those_of_the_voxels_above_the_threshold():
    hounsfield = seed_hounsfield()
    low, high = hounsfield.min(), hounsfield.max()
    above = hounsfield[(hounsfield - low) / (high - low) > 0.5]

    _, report = measure(SEED_FILE)

    stats = report["series"][0]["stats"]
    assert above.size == SEED_VOXELS
    assert stats["mean"] == pytest.approx(above.mean(), rel=1e-12)
    assert stats["std"] == pytest.approx(above.std(), rel=1e-9)
    assert (stats["min"], stats["max"], stats["median"]) == (above.min(), above.max(), np.median(above))


# --- no volume, exit status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SliceThickness": None}, "a single slice without a usable Slice Thickness (0018,0050)"),
        ({"SliceThickness": "0"}, "(Slice Thickness is 0)"),
        ({"PixelSpacing": None}, "Pixel Spacing (0028,0030) is missing"),
        ({"PixelSpacing": ["0", "-1"]}, "Pixel Spacing (0028,0030) is 0\\-1: a spacing must be a positive number"),
    ],
    ids=["no-thickness", "zero-thickness", "no-pixel-spacing", "bad-pixel-spacing"],
)
def test_the_volume_is_null_exactly_when_a_reason_is_given(tmp_path, changes, reason):
    path = seed_copy(tmp_path, "seed-changed.dcm", **changes)

    status, report = measure(path)

    assert status == 0  # the series was measured: its voxels are counted
    [series] = report["series"]
    assert series["voxels_above"] == SEED_VOXELS
    assert reason in series["volume_unavailable_reason"]
    assert series["volume_mm3"] is None and series["volume_ml"] is None


def test_the_invalid_seed_files_are_skipped_as_not_dicom_with_exit_status_2():
    status, report = measure(*INVALID_FILES)

    assert status == 2
    assert report["series"] == []
    assert report["skipped"] == [
        {"file": "invalid.dicom", "reason": "not a DICOM file (no DICOM preamble or header)"},
        {"file": "not_dicom.txt", "reason": "not a DICOM file (no DICOM preamble or header)"},
    ]


def test_the_invalid_files_are_listed_in_the_text_output_too():
    status, text = measure_text(*INVALID_FILES)

    assert status == 2
    # One reason for both: said once, then the files.
    assert "skipped 2 files: not a DICOM file (no DICOM preamble or header)\n    invalid.dicom\n    not_dicom.txt\n" in text
    assert "0 volume(s) measured, 2 file(s) skipped" in text


def test_a_refused_volume_is_said_once_with_its_files(tmp_path):
    from .acquisitions_phantoms import write_volumes

    write_volumes(tmp_path, [(2, {}), (5, {})])  # two volumes that nothing tells apart
    status, text = measure_text(tmp_path)
    assert status == 2
    assert text.count("nothing in their headers tells them apart") == 1
    assert "skipped 8 files: 8 images lie at 4 shared positions" in text and "; and 1 more position\n" in text
    assert sorted(line.strip() for line in text.splitlines() if line.startswith("    ")) == sorted(
        f"{tmp_path.name}/{path.name}" for path in tmp_path.iterdir()
    )


def test_one_measured_file_among_bad_ones_gives_exit_status_0(tmp_path):
    missing = tmp_path / "nowhere.dcm"

    status, report = measure(SEED_FILE, *INVALID_FILES, missing)

    assert status == 0
    assert report["series"][0]["voxels_above"] == SEED_VOXELS
    assert {"file": str(missing), "reason": "no such file or folder"} in report["skipped"]
    assert len(report["skipped"]) == 3


# --- thresholds -----------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", ["0.25", "0.7", "0", "1"])
def test_a_normalised_threshold_counts_the_voxels_above_it(threshold):
    hounsfield = seed_hounsfield()
    normalised = (hounsfield - hounsfield.min()) / (hounsfield.max() - hounsfield.min())
    expected = int(np.count_nonzero(normalised > float(threshold)))

    status, report = measure(SEED_FILE, "--threshold", threshold)

    [series] = report["series"]
    assert series["threshold"] == float(threshold)
    assert series["voxels_above"] == expected
    assert series["volume_mm3"] == pytest.approx(expected * SEED_PIXEL_MM**2 * SEED_THICKNESS_MM, rel=1e-12)
    assert status == 0


def test_the_modality_mode_takes_the_threshold_in_hounsfield_units():
    hounsfield = seed_hounsfield()
    expected = int(np.count_nonzero(hounsfield > 300))

    status, report = measure(SEED_FILE, "--mode", "modality", "--threshold", "300")

    [series] = report["series"]
    assert series["mode"] == "modality"
    assert series["threshold_modality"] == 300
    assert series["threshold"] == pytest.approx((300 - hounsfield.min()) / (hounsfield.max() - hounsfield.min()))
    assert series["voxels_above"] == expected
    assert 0 < expected < SEED_VOXELS  # bone only: fewer voxels than above the normalised 0.5
    assert series["volume_mm3"] == pytest.approx(expected * SEED_PIXEL_MM**2 * SEED_THICKNESS_MM, rel=1e-12)
    assert status == 0


@pytest.mark.parametrize("mode", ["otsu", "triangle", "isodata", "yen"])
def test_an_automatic_mode_reports_its_threshold_in_both_units(mode):
    hounsfield = seed_hounsfield()
    low, high = hounsfield.min(), hounsfield.max()

    status, report = measure(SEED_FILE, "--mode", mode)

    [series] = report["series"]
    assert series["mode"] == mode
    chosen = series["threshold_modality"]
    assert low < chosen < high
    assert series["threshold"] == pytest.approx((chosen - low) / (high - low), rel=1e-12)
    assert series["voxels_above"] == int(np.count_nonzero(hounsfield > chosen))
    assert status == 0


def test_otsu_prints_the_chosen_threshold_in_both_units_as_text():
    _, report = measure(SEED_FILE, "--mode", "otsu")
    series = report["series"][0]

    status, text = measure_text(SEED_FILE, "--mode", "otsu")

    assert status == 0
    assert (
        f"threshold (otsu): {series['threshold']:.6g} normalised = {figures.modality_value(series['threshold_modality'])} in modality units"
        in text
    )
    assert f"voxels above: {series['voxels_above']:,} of 262,144" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "abc"], "the threshold 'abc' is not a number"),
        (["--threshold", "1.5"], "a normalised threshold lies between 0 and 1, not 1.5"),
        (["--threshold", "nan"], "the threshold 'nan' is not a finite number"),
        (["--mode", "modality"], "the modality mode needs a threshold in modality units"),
        (["--mode", "otsu", "--threshold", "0.3"], "--threshold cannot be given with --mode otsu"),
        (["--mode", "median"], "invalid choice: 'median'"),
    ],
)
def test_a_bad_threshold_or_mode_is_a_clear_error(args, message):
    with pytest.raises(CommandError) as error:
        call_command("measure", str(SEED_FILE), *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert message in str(error.value)


def test_a_bad_threshold_on_the_command_line_exits_1_with_one_line_and_no_traceback():
    completed = subprocess.run(
        [sys.executable, str(MANAGE_PY), "measure", str(SEED_FILE), "--threshold", "half"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.strip() == "CommandError: the threshold 'half' is not a number"


def test_manage_py_measures_the_seed_file_without_loading_the_apps_or_the_orm():
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['manage.py', 'measure', '--json', {str(SEED_FILE)!r}]\n"
        f"runpy.run_path({str(MANAGE_PY)!r}, run_name='__main__')\n"
        "from django.apps import apps\n"
        "loaded = [m for m in ('django.db.models', 'django.contrib.admin', 'volumes.models') if m in sys.modules]\n"
        "print(apps.ready, loaded, file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=MANAGE_PY.parent)
    assert completed.returncode == 0, completed.stderr
    (series,) = json.loads(completed.stdout)["series"]
    assert (series["voxels_above"], series["volume_mm3"]) == (SEED_VOXELS, pytest.approx(SEED_VOLUME_MM3, abs=1e-6))
    assert completed.stderr.strip() == "False []"


# --- the tilted phantom: a folder, and a zip with nested folders ----------------------------------


def zipped_phantom(tmp_path: Path) -> Path:
    """The phantom folder zipped by the test, inside two levels of folders."""
    archive = tmp_path / "phantom.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(PHANTOM_DIR.iterdir()):
            zf.write(path, f"export/2019/ct-phantom-philips/{path.name}")
    return archive


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_the_tilted_phantom_gives_its_reference_volume(tmp_path, packed):
    source = zipped_phantom(tmp_path) if packed == "zip" else PHANTOM_DIR
    prefix = "phantom.zip/export/2019/ct-phantom-philips" if packed == "zip" else "ct-phantom-philips"

    status, report = measure(source)

    assert status == 0
    [series] = report["series"]
    assert (series["slices"], series["rows"], series["columns"]) == (54, 512, 512)
    assert series["voxels_above"] == PHANTOM_VOXELS
    assert series["volume_mm3"] == pytest.approx(PHANTOM_VOLUME_MM3, abs=PHANTOM_TOLERANCE_MM3)
    assert series["slab_mm"]["mean"] == pytest.approx(2.5 * math.cos(math.radians(18.5)), rel=1e-4)
    [tilt] = [warning for warning in series["warnings"] if warning.startswith("gantry tilt")]
    assert tilt.startswith("gantry tilt of 18.5°: the slices are sheared")
    skipped = {item["file"]: item["reason"] for item in report["skipped"]}
    assert set(skipped) == {f"{prefix}/DIRFILE", f"{prefix}/LICENSE"}
    assert skipped[f"{prefix}/DIRFILE"] == "a DICOM directory (DICOMDIR) that lists other files; it holds no image"
    assert skipped[f"{prefix}/LICENSE"] == "not a DICOM file (no DICOM preamble or header)"


def test_the_phantom_as_text_shows_the_tilt_and_dirfile(tmp_path):
    folder = tmp_path / "scans" / "head"
    shutil.copytree(PHANTOM_DIR, folder)
    (folder / "LICENSE").unlink()

    status, text = measure_text(folder)

    assert status == 0
    assert "54 slice(s) of 512×512, pixel spacing 0.482422 × 0.482422 mm, slab 2.37081 mm" in text
    assert "voxels above: 1,181,064 of 14,155,776" in text
    assert "volume: 651,664 mm³ (651.664 mL)" in text
    assert "warning: gantry tilt of 18.5°" in text
    assert "skipped head/DIRFILE: a DICOM directory (DICOMDIR)" in text
    assert text.rstrip().endswith("1 volume(s) measured, 1 file(s) skipped")


def test_body_only_and_a_range_from_the_command_line():
    status, report = measure(PHANTOM_DIR, "--body-only")
    [series] = report["series"]
    assert status == 0
    assert (series["voxels_above"], series["body_only"]) == (957_148, True)  # the head holder left out
    assert series["voxels_above"] < PHANTOM_VOXELS

    status, text = measure_text(SEED_FILE, "--mode", "modality", "--threshold", "-26", "--upper", "100")
    assert status == 0
    assert "upper bound: at most 100 in modality units" in text


def test_body_only_on_a_time_series_from_the_command_line(tmp_path):
    folder = write_time_points(tmp_path, [PATIENT, PATIENT_LATER])
    status, report = measure(folder, "--body-only", "--mode", "modality", "--threshold", "0")
    [series] = report["series"]
    assert (status, series["body_only"]) == (0, True)
    assert [p["voxels_above"] for p in series["time_points"]] == [BODY.voxels - HOLE.voxels, BODY_LATER.voxels - HOLE.voxels]


def test_an_upper_bound_below_the_threshold_is_refused():
    with pytest.raises(CommandError, match=r"the upper bound \(0.2\) must be above the lower threshold \(0.5\)"):
        call_command("measure", str(SEED_FILE), "--upper", "0.2", stdout=io.StringIO())
