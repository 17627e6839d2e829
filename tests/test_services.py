"""The use cases, against the database and private file storage."""
import zipfile

import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from volumes import services
from volumes.imaging import pixels
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement, Series, Study, Upload

from .conftest import (
    INVALID_FILES,
    PHANTOM_DIR,
    PHANTOM_VOLUME_MM3,
    PHANTOM_VOXELS,
    SEED_FILE,
    SEED_VOLUME_MM3,
    SEED_VOXELS,
)

pytestmark = pytest.mark.django_db
HALF = ThresholdRequest(mode="normalized", value=0.5)


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


def uploaded(*paths):
    return [SimpleUploadedFile(path.name, path.read_bytes()) for path in paths]


def stored_files(media):
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def test_ingest_stores_rows_and_the_file_under_its_sha256(owner, private_media, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    assert stored_files(private_media) == [private_media / "staging" / "pending" / f"{services.file_sha256(SEED_FILE)}.dcm"]
    callbacks[0]()  # the rows committed: the file is moved into place
    instance = Instance.objects.get()
    assert instance.series.study.owner == owner
    assert instance.sha256 == services.file_sha256(SEED_FILE)
    assert instance.size_bytes == SEED_FILE.stat().st_size
    assert stored_files(private_media) == [private_media / "instances" / instance.sha256[:2] / f"{instance.sha256}.dcm"]
    measurement = upload.measurements.get()
    assert (measurement.state, measurement.mode, measurement.threshold_requested) == ("queued", "normalized", 0.5)


def test_a_failure_while_storing_leaves_no_rows_and_no_files(owner, private_media, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the queue is down")

    monkeypatch.setattr(services.uploads, "measurement_enqueue", broken)
    with pytest.raises(RuntimeError):
        services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    assert not Upload.objects.exists() and not Study.objects.exists() and not Instance.objects.exists()
    assert stored_files(private_media) == []


def test_an_upload_of_only_bad_files_is_rejected_with_every_reason(owner, private_media):
    with pytest.raises(services.UploadRejected) as rejected:
        services.upload_ingest(owner=owner, files=uploaded(*INVALID_FILES), request=HALF)
    assert rejected.value.message == "None of the 2 files holds an image that can be measured."
    assert [(s.name, s.reason) for s in rejected.value.summary.first] == [
        (p.name, "not a DICOM file (no DICOM preamble or header)") for p in INVALID_FILES
    ]
    assert stored_files(private_media) == []


def test_a_dicom_file_without_pixel_data_is_rejected(owner, tmp_path):
    dataset = pydicom.dcmread(SEED_FILE)
    del dataset.PixelData
    path = tmp_path / "no-pixels.dcm"
    dataset.save_as(path)
    with pytest.raises(services.UploadRejected) as rejected:
        services.upload_ingest(owner=owner, files=uploaded(path), request=HALF)
    assert rejected.value.message == (
        "no-pixels.dcm cannot be measured: no pixel data: labelled CT Image Storage, "
        "but the file holds only a header, no Pixel Data (7FE0,0010)."
    )


def test_the_phantom_zip_is_one_measured_series_with_dirfile_skipped(owner, tmp_path, django_capture_on_commit_callbacks):
    archive = tmp_path / "phantom.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(PHANTOM_DIR.iterdir()):
            zf.write(path, f"export/head/{path.name}")
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(owner=owner, files=uploaded(archive), request=HALF)
    measurement = Measurement.objects.get(upload=upload)
    assert measurement.state == "done", measurement.error_message
    assert (measurement.result["slices"], measurement.voxels_above) == (54, PHANTOM_VOXELS)
    assert measurement.volume_mm3 == pytest.approx(PHANTOM_VOLUME_MM3, abs=0.005)
    assert any(w.startswith("gantry tilt of 18.5°") for w in measurement.result["warnings"])
    assert upload.files_received == 56
    skipped = {item["file"]: item["reason"] for item in upload.skipped}
    assert skipped["phantom.zip/export/head/DIRFILE"].startswith("a DICOM directory (DICOMDIR)")
    assert Instance.objects.count() == 54


def test_remeasuring_reads_the_stored_histograms_not_the_pixels(owner, monkeypatch, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    first = upload.measurements.get()

    def no_pixel_reading(*args, **kwargs):
        raise AssertionError("pixels were read again")

    monkeypatch.setattr(pixels, "iter_stored_frames", no_pixel_reading)
    again = services.measurement_remeasure(measurement=first, request=HALF)
    assert again.pk != first.pk and again.state == "done"
    assert (again.voxels_above, again.volume_mm3) == (SEED_VOXELS, SEED_VOLUME_MM3)
    assert again.thumbnail and again.thumbnail.name != first.thumbnail.name


def test_new_slices_for_a_stored_series_discard_its_histograms(owner, tmp_path, django_capture_on_commit_callbacks):
    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))
    with django_capture_on_commit_callbacks(execute=True):
        services.upload_ingest(owner=owner, files=uploaded(*slices[:10]), request=HALF)
    series = Series.objects.get()
    assert series.histogram
    with django_capture_on_commit_callbacks(execute=True):
        services.upload_ingest(owner=owner, files=uploaded(*slices), request=HALF)
    latest = Measurement.objects.order_by("-id").first()
    assert latest.result["slices"] == 54 and latest.voxels_above == PHANTOM_VOXELS
    assert Series.objects.count() == 1 and Instance.objects.count() == 54


def test_an_unexpected_error_fails_the_measurement_with_a_generic_message(owner, monkeypatch, caplog):
    upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    measurement = upload.measurements.get()

    def explode(**kwargs):
        raise ValueError("something deep inside")

    monkeypatch.setattr(services.measuring, "series_histogram", explode)
    services.measurement_run(measurement=measurement)
    measurement.refresh_from_db()
    assert measurement.state == "failed"
    assert measurement.error_message == services.INTERNAL_ERROR_MESSAGE
    assert "something deep inside" in caplog.text


@pytest.mark.django_db(transaction=True)  # the worker closes its connection between tasks, as in production
def test_the_database_worker_runs_queued_measurements(owner, settings, django_capture_on_commit_callbacks):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    measurement = upload.measurements.get()
    assert measurement.state == "queued"
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    measurement.refresh_from_db()
    assert measurement.state == "done"
    assert measurement.voxels_above == SEED_VOXELS
