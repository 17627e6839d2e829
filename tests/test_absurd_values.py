"""Values out of any physical range get a reason, never an internal error; JSON never holds Infinity;
a file with an absurd bit depth never changes a series' volume; messages say what actually happened."""
import io
import json
import shutil
import struct
import tracemalloc
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from pydicom.uid import generate_uid

from volumes.imaging.reader import read_images
from volumes.imaging.sources import SourceFile
from volumes.models import Measurement

from .conftest import PHANTOM_DIR, PHANTOM_VOLUME_MM3, SEED_FILE, SEED_VOXELS


def seed_with(tmp_path: Path, name: str, **values) -> Path:
    ds = pydicom.dcmread(SEED_FILE)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    path = tmp_path / name
    ds.save_as(path)
    return path


def reason_for(path: Path) -> str:
    read = read_images([SourceFile(path.name, path)], 1)
    assert read.images == []
    (skipped,) = read.skipped
    return skipped.reason


def measure_json(*paths: Path) -> dict:
    out = io.StringIO()
    try:
        call_command("measure", *map(str, paths), "--json", stdout=out)
    except SystemExit:
        pass
    text = out.getvalue()
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_a_pixel_spacing_of_1e308_gives_a_reason_and_json_without_infinity(tmp_path):
    path = seed_with(tmp_path, "huge.dcm", PixelSpacing=["1e308", "1e308"])
    (series,) = measure_json(path)["series"]
    assert series["volume_mm3"] is None and series["volume_ml"] is None
    assert series["voxels_above"] == SEED_VOXELS
    assert series["volume_unavailable_reason"] == (
        "Pixel Spacing (0028,0030) is 1e308\\1e308 mm: beyond 1000 mm, out of any physical range"
    )


def test_slices_a_world_apart_give_a_reason_not_infinity(tmp_path):
    first = seed_with(tmp_path, "a.dcm", ImagePositionPatient=[0, 0, -1e308], SOPInstanceUID=generate_uid())
    second = seed_with(tmp_path, "b.dcm", ImagePositionPatient=[0, 0, 1e308], SOPInstanceUID=generate_uid())
    (series,) = measure_json(first, second)["series"]
    assert series["volume_mm3"] is None
    assert "out of any physical range" in series["volume_unavailable_reason"]


@pytest.mark.django_db
def test_an_absurd_spacing_through_the_api_is_done_with_a_reason_not_an_internal_error(client, tmp_path, django_capture_on_commit_callbacks):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    path = seed_with(tmp_path, "huge.dcm", PixelSpacing=["1e308", "1e308"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile(path.name, path.read_bytes())]})
    assert response.status_code == 202
    measurement = Measurement.objects.get()
    assert measurement.state == Measurement.State.DONE, measurement.error_message
    body = client.get(reverse("volumes:api-measurement-detail", args=[measurement.pk])).content.decode()
    assert "Infinity" not in body and "NaN" not in body
    assert json.loads(body)["volume_unavailable_reason"].endswith("out of any physical range")
    page = client.get(measurement.get_absolute_url())
    assert page.status_code == 200 and "out of any physical range" in page.content.decode()


def test_bits_stored_above_bits_allocated_is_refused(tmp_path):
    path = seed_with(tmp_path, "deep.dcm", BitsStored=40, HighBit=39)
    assert reason_for(path) == (
        "Bits Stored (0028,0101) is 40 with Bits Allocated (0028,0100) 16: a pixel cannot store more bits than it is given"
    )


def test_a_slice_with_an_absurd_bit_depth_never_changes_the_series_volume(tmp_path):
    series = tmp_path / "series"
    shutil.copytree(PHANTOM_DIR, series)
    alone = measure_json(series)["series"][0]
    first = sorted(p for p in series.iterdir() if p.name.startswith("I"))[0]
    ds = pydicom.dcmread(first)
    ds.BitsStored, ds.HighBit = 40, 39
    ds.SOPInstanceUID = generate_uid()
    ds.ImagePositionPatient = [float(v) for v in ds.ImagePositionPatient[:2]] + [float(ds.ImagePositionPatient[2]) + 300]
    ds.save_as(series / "deep-bits")
    report = measure_json(series)
    (result,) = report["series"]
    assert result["volume_mm3"] == alone["volume_mm3"] == pytest.approx(PHANTOM_VOLUME_MM3, abs=0.005)
    assert result["slices"] == alone["slices"]
    assert any(s["file"].endswith("deep-bits") and "Bits Stored" in s["reason"] for s in report["skipped"])


@pytest.mark.parametrize(
    "values, reason",
    [
        ({"NumberOfFrames": "1000000000"}, "Number of Frames (0028,0008) is 1,000,000,000: more than 100,000, out of any acquisition's range"),
        (
            {"Rows": 65535, "Columns": 65535, "NumberOfFrames": "2"},
            "65,535 × 65,535 pixels × 2 frames: more than 4,294,967,296 pixels in one file, out of the range this tool measures",
        ),
    ],
)
def test_huge_sizes_get_a_reason(tmp_path, values, reason):
    assert reason_for(seed_with(tmp_path, "huge.dcm", **values)) == reason


def test_an_empty_pixel_spacing_is_called_empty_not_none(tmp_path):
    path = seed_with(tmp_path, "empty.dcm")
    ds = pydicom.dcmread(path)
    ds["PixelSpacing"].value = None
    ds.save_as(path)
    (series,) = measure_json(path)["series"]
    assert series["volume_unavailable_reason"] == "Pixel Spacing (0028,0030) is empty"


def with_pixel_data_length(tmp_path: Path, length: int) -> Path:
    data = bytearray(SEED_FILE.read_bytes())
    tag = data.rindex(b"\xe0\x7f\x10\x00")
    assert data[tag + 4 : tag + 6] == b"OW"
    data[tag + 8 : tag + 12] = struct.pack("<I", length)
    path = tmp_path / "declared.dcm"
    path.write_bytes(bytes(data))
    return path


def test_a_declared_length_past_the_end_of_the_file_is_named_as_such(tmp_path):
    path = with_pixel_data_length(tmp_path, 0xFFFFFFF0)
    assert reason_for(path) == (
        "a damaged Pixel Data (7FE0,0010) element: it declares 4,294,967,280 bytes, but the file ends 524,288 bytes after its start"
    )


def test_an_undefined_length_on_native_pixel_data_is_not_shown_as_a_size(tmp_path):
    reason = reason_for(with_pixel_data_length(tmp_path, 0xFFFFFFFF))
    assert "4,294,967,29" not in reason


def test_a_huge_private_element_is_checked_without_reading_the_file_into_memory(tmp_path):
    """A header and a 320 MB private element, no pixel data: the check for cut compressed data scans in chunks."""
    ds = pydicom.dcmread(SEED_FILE)
    del ds.PixelData
    path = tmp_path / "private.dcm"
    ds.save_as(path)
    size = 320 * 1024 * 1024
    with open(path, "ab") as f:
        f.write(struct.pack("<HH2sHI", 0x0099, 0x1010, b"OB", 0, size))  # a private OB element, explicit length
        block = b"\0" * (1024 * 1024)
        for _ in range(size // len(block)):
            f.write(block)
    tracemalloc.start()
    try:
        reason = reason_for(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason.startswith("no pixel data")
    assert peak < 50 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"
