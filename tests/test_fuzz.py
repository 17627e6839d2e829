"""A fuzz test: 500+ malformed files built from real ones, uploaded mixed with good series.

No 5xx; every bad file listed with a reason (skipped, or its own series measured with a reason for
having no volume); the good series measured exactly as when alone; nothing half-written in the
database or the media folder.
"""
import io
import random
import struct
from pathlib import Path

import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from volumes import services
from volumes.models import Instance, Measurement, Upload

from .conftest import PHANTOM_DIR, PHANTOM_VOLUME_MM3, PHANTOM_VOXELS, SEED_FILE, SEED_VOXELS

pytestmark = pytest.mark.django_db

BASE = Path(get_testdata_file("CT_small.dcm"))
MUTANTS_PER_KIND = 40


def fresh(rng: random.Random) -> Dataset:
    """The base file as its own series, so that a mutant that still reads never joins another series."""
    ds = pydicom.dcmread(BASE)
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.ImagePositionPatient = [rng.uniform(-100, 100) for _ in range(3)]
    return ds


def encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def pixel_length_at(data: bytes) -> int:
    tag = data.rindex(b"\xe0\x7f\x10\x00")
    return tag + 8  # OW: tag, VR, two reserved bytes, then the 4-byte length


def truncated(rng, ds):
    data = encoded(ds)
    return data[: rng.randrange(1, len(data) - 2)]


def wrong_length(rng, ds):
    data = bytearray(encoded(ds))
    at = rng.randrange(140, 700)
    data[at : at + 4] = struct.pack("<I", rng.choice([0xFFFFFFF0, 0x7FFFFFFF, rng.randrange(1 << 16, 1 << 31)]))
    # Where the four bytes fell on a value rather than a length, the cut pixel data is the fault.
    return bytes(data[: pixel_length_at(bytes(data)) + 4 + rng.randrange(0, 1000)])


def wrong_vr(rng, ds):
    data = bytearray(encoded(ds))
    element = rng.choice([e for e in ds if e.VR in ("DS", "US", "UI", "CS", "IS") and e.tag.group >= 0x0018])
    tag = struct.pack("<HH", element.tag.group, element.tag.element)
    at = data.index(tag, 132)
    data[at + 4 : at + 6] = rng.choice([b"SQ", b"OB", b"UN", b"FD", b"AT", b"UT", b"XX", b"\0\0"])
    ds_bytes = bytes(data)
    # A wrong VR that still reads as a valid image is no fault: give it one for sure.
    return ds_bytes[: pixel_length_at(ds_bytes) + 4 + rng.randrange(0, 1000)]


def size_disagrees(rng, ds):
    ds.Rows = ds.Rows + rng.randrange(1, 200)
    ds.Columns = ds.Columns + rng.randrange(0, 200)
    return encoded(ds)


def absurd_spacing(rng, ds):
    ds.PixelSpacing = rng.choice([["1e308", "1e308"], ["0", "0.5"], ["-1", "1"], ["nan", "1"], ["5000", "5000"], ["", ""]])
    return encoded(ds)


def absurd_bits(rng, ds):
    choice = rng.randrange(3)
    if choice == 0:
        ds.BitsStored = rng.choice([17, 24, 40, 64])
    elif choice == 1:
        ds.BitsAllocated = rng.choice([12, 0, 7, 128])
    else:
        ds.BitsStored = 0
    return encoded(ds)


def huge_sizes(rng, ds):
    ds.NumberOfFrames = str(rng.choice([10**6, 10**9, 2**31 - 1]))
    return encoded(ds)


def absurd_position(rng, ds):
    ds.ImagePositionPatient = [0, 0, rng.choice([1e308, -1e308, 1e12])]
    ds.SliceThickness = rng.choice(["1e308", "-5", "0"])
    del ds.SpacingBetweenSlices  # else a lone slice takes it, rightly, in place of the thickness
    return encoded(ds)


def deep_sequence(rng, ds):
    """Sequences nested hundreds to thousands deep (undefined lengths), before the pixel data."""
    depth = rng.randrange(100, 3000)
    opening = b"\x08\x00\x40\x11SQ\0\0\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\0\0\0\0" + b"\xfe\xff\xdd\xe0\0\0\0\0"
    data = encoded(ds)
    at = data.rindex(b"\xe0\x7f\x10\x00")
    deep = data[:at] + opening * depth + closing * depth + data[at:]
    return deep[: len(deep) - rng.randrange(2, 30000)]  # nested deep and cut: a fault whether or not it reads


def huge_declared_length(rng, ds):
    data = bytearray(encoded(ds))
    at = pixel_length_at(bytes(data))
    data[at : at + 4] = struct.pack("<I", rng.choice([0xFFFFFFF0, 0xFFFFFFFE, len(data) * 1000]))
    return bytes(data)


def noise_with_header(rng, ds):
    return b"\0" * 128 + b"DICM" + rng.randbytes(rng.randrange(0, 4000))


def rescale_absurd(rng, ds):
    ds.RescaleSlope = "inf" if rng.random() < 0.5 else "1e308"
    ds.PixelSpacing = ["1e307", "1e307"]
    return encoded(ds)


KINDS = [
    truncated, wrong_length, wrong_vr, size_disagrees, absurd_spacing, absurd_bits, huge_sizes,
    absurd_position, deep_sequence, huge_declared_length, noise_with_header, rescale_absurd, truncated,
]


def mutants(rng: random.Random) -> list[tuple[str, bytes]]:
    files = []
    for number, kind in enumerate(KINDS):
        for i in range(MUTANTS_PER_KIND):
            files.append((f"bad/{number:02}-{kind.__name__}-{i:03}.dcm", kind(rng, fresh(rng))))
    return files


def test_500_malformed_files_mixed_with_good_series(client, django_capture_on_commit_callbacks, private_media, settings, monkeypatch):
    settings.VOLUMES_DECODE_PROCESSES = 1
    monkeypatch.setattr(services.uploads, "SKIPPED_NAMES_KEPT", 10_000)  # to check every file's reason here
    rng = random.Random(11)
    bad = mutants(rng)
    assert len(bad) >= 500
    good = [(f"phantom/{p.name}", p.read_bytes()) for p in sorted(PHANTOM_DIR.glob("I*"))] + [("seed/1-101.dcm", SEED_FILE.read_bytes())]
    mixed = bad + good
    rng.shuffle(mixed)
    client.force_login(get_user_model().objects.create_user("fuzz", password="a-long-secret-1"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("volumes:api-measurement-list"),
            {"files": [SimpleUploadedFile(name.replace("/", "__"), data) for name, data in mixed]},
        )
    assert response.status_code == 202, response.content[:500]

    upload = Upload.objects.get()
    measurements = list(Measurement.objects.select_related("series"))
    by_description = {m.series.series_instance_uid: m for m in measurements}
    phantom = next(m for m in measurements if m.result["slices"] == 54)
    assert (phantom.voxels_above, round(phantom.volume_mm3, 2)) == (PHANTOM_VOXELS, pytest.approx(PHANTOM_VOLUME_MM3, abs=0.005))
    seed = next(m for m in measurements if m.series.instances.filter(original_name="seed__1-101.dcm").exists())
    assert (seed.voxels_above, seed.result["slices"]) == (SEED_VOXELS, 1)

    # Every bad file: skipped with a reason, or alone in a series measured without a volume and with why.
    skipped_reasons = {s["file"]: s["reason"] for s in upload.skipped}
    assert upload.skipped_count == len(skipped_reasons)  # every name kept: see SKIPPED_NAMES_KEPT above
    stored_bad = {i.original_name: i for i in Instance.objects.filter(original_name__startswith="bad__").select_related("series")}
    for name, instance in stored_bad.items():
        measurement = by_description[instance.series.series_instance_uid]
        assert measurement.state in (Measurement.State.DONE, Measurement.State.FAILED)
        reason = measurement.result_dict().get("volume_unavailable_reason") or measurement.error_message
        assert reason, f"{name} was measured as if it were sound"
        assert "internal error" not in reason
        assert measurement.series.instances.count() == 1
    bad_names = {name.replace("/", "__") for name, _ in bad}
    assert set(skipped_reasons) | set(stored_bad) == bad_names
    assert not set(skipped_reasons) & set(stored_bad)
    assert all(reason and "internal error" not in reason for reason in skipped_reasons.values())

    # Nothing half-written: every row has its file, every file its row, nothing waits in staging.
    report = services.storage_check(repair=False, min_age_seconds=0)
    assert report.problems == 0, services.storage_report_lines(report, repaired=False)
    assert [p for p in (private_media / "staging").rglob("*") if p.is_file()] == []
