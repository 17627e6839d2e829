"""The mask and the measurement downloaded from the result page, and written by `manage.py measure`."""
import gzip
import io
import json

import nibabel
import numpy as np
import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from volumes.models import Measurement

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOXELS
from .phantoms import write_time_points
from .test_body import BODY, BODY_LATER, HOLE, PATIENT, PATIENT_LATER
from .time_series_writer import write_time_series

PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))


@pytest.fixture
def signed_in(client, db):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    return client


def upload(client, *paths, capture, **fields):
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in paths]
    with capture(execute=True):
        client.post(reverse("volumes:upload"), {"files": files, **fields})


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def seg_of(response) -> pydicom.Dataset:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/dicom"
    return pydicom.dcmread(io.BytesIO(content(response)))


def nifti_of(response) -> nibabel.Nifti1Image:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/gzip"
    return nibabel.Nifti1Image.from_bytes(gzip.decompress(content(response)))


@pytest.mark.django_db
def test_the_result_page_offers_the_mask_and_the_json(signed_in, django_capture_on_commit_callbacks):
    upload(signed_in, SEED_FILE, capture=django_capture_on_commit_callbacks)
    measurement = Measurement.objects.get()
    page = signed_in.get(measurement.get_absolute_url()).content.decode()
    for name in ("measurement-seg", "measurement-nifti", "measurement-json", "measurement-delete"):
        assert reverse(f"volumes:{name}", args=[measurement.pk]) in page

    seg = seg_of(signed_in.get(reverse("volumes:measurement-seg", args=[measurement.pk])))
    source = pydicom.dcmread(SEED_FILE, stop_before_pixels=True)
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert int(seg.pixel_array.sum()) == SEED_VOXELS == measurement.voxels_above
    assert seg.SegmentSequence[0].SegmentLabel == "voxels > -26.0 (normalized)"

    nifti = nifti_of(signed_in.get(reverse("volumes:measurement-nifti", args=[measurement.pk])))
    assert int(np.asanyarray(nifti.dataobj).sum()) == SEED_VOXELS
    assert nifti.header.get_zooms() == pytest.approx((0.9765625, 0.9765625, 3.0))


@pytest.mark.django_db
def test_a_re_measurement_exports_its_own_threshold_on_the_tilted_phantom(signed_in, django_capture_on_commit_callbacks):
    upload(signed_in, *PHANTOM_SLICES, capture=django_capture_on_commit_callbacks)
    first = Measurement.objects.get()
    signed_in.post(reverse("volumes:measurement-remeasure", args=[first.pk]), {"mode": "modality", "threshold": "300"})
    bone = Measurement.objects.get(mode="modality")
    assert 0 < bone.voxels_above < first.voxels_above
    seg = seg_of(signed_in.get(reverse("volumes:measurement-seg", args=[bone.pk])))
    assert int(seg.pixel_array.sum()) == bone.voxels_above
    assert len(seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == len(PHANTOM_SLICES)
    nifti = nifti_of(signed_in.get(reverse("volumes:measurement-nifti", args=[bone.pk])))
    assert int(np.asanyarray(nifti.dataobj).sum()) == bone.voxels_above


@pytest.mark.django_db
def test_an_unfinished_measurement_has_no_mask_yet(signed_in):
    signed_in.post(reverse("volumes:upload"), {"files": [SimpleUploadedFile("a.dcm", SEED_FILE.read_bytes())]})
    measurement = Measurement.objects.get()  # its task never ran: no on-commit callbacks here
    response = signed_in.get(reverse("volumes:measurement-seg", args=[measurement.pk]))
    assert response.status_code == 409
    assert "The mask cannot be written: the measurement is not done yet." in response.content.decode()


@pytest.mark.django_db
def test_changed_files_refuse_rather_than_export_another_mask(signed_in, django_capture_on_commit_callbacks):
    upload(signed_in, SEED_FILE, capture=django_capture_on_commit_callbacks)
    measurement = Measurement.objects.get()
    Measurement.objects.filter(pk=measurement.pk).update(voxels_above=SEED_VOXELS + 1)
    response = signed_in.get(reverse("volumes:measurement-nifti", args=[measurement.pk]))
    assert response.status_code == 409
    assert "the stored files give 50,080 voxels above the threshold, the measurement 50,081" in response.content.decode()


@pytest.mark.django_db
def test_only_the_owner_downloads(signed_in, django_capture_on_commit_callbacks):
    upload(signed_in, SEED_FILE, capture=django_capture_on_commit_callbacks)
    measurement = Measurement.objects.get()
    other = Client()
    other.force_login(get_user_model().objects.create_user("bob", password="a-long-secret-3"))
    for name in ("measurement-seg", "measurement-nifti", "measurement-json"):
        assert other.get(reverse(f"volumes:{name}", args=[measurement.pk])).status_code == 404
        assert Client().get(reverse(f"volumes:{name}", args=[measurement.pk])).status_code == 401  # sign in first


def test_downloads_reach_a_script_with_an_api_token(signed_in, django_capture_on_commit_callbacks):
    from volumes import services

    upload(signed_in, SEED_FILE, capture=django_capture_on_commit_callbacks)
    measurement = Measurement.objects.get()
    _, key = services.token_create(user=measurement.series.study.owner, name="script")
    answer = Client().get(
        reverse("volumes:measurement-nifti", args=[measurement.pk]), HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert answer.status_code == 200 and answer["Content-Type"] == "application/gzip"


def test_the_command_writes_numbered_masks_for_several_volumes(tmp_path):
    out = io.StringIO()
    call_command(
        "measure", str(SEED_FILE), str(PHANTOM_DIR), "--json",
        "--seg", str(tmp_path / "seg.dcm"), "--nifti", str(tmp_path / "mask.nii.gz"), stdout=out,
    )
    report = json.loads(out.getvalue())
    by_uid = {series["series_instance_uid"]: series["voxels_above"] for series in report["series"]}
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["mask-1.nii.gz", "mask-2.nii.gz", "seg-1.dcm", "seg-2.dcm"]
    for export in report["exports"]:
        assert export["error"] is None
        seg_path, nifti_path = sorted(export["files"], key=lambda name: not name.endswith(".dcm"))
        seg = pydicom.dcmread(seg_path)
        uid = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        assert uid == export["series_instance_uid"]
        assert int(seg.pixel_array.sum()) == by_uid[uid]
        assert int(np.asanyarray(nibabel.load(nifti_path).dataobj).sum()) == by_uid[uid]


def test_the_command_writes_one_volume_to_the_names_given(tmp_path):
    out = io.StringIO()
    call_command("measure", str(SEED_FILE), "--nifti", str(tmp_path / "seed.nii.gz"), stdout=out)
    assert [p.name for p in tmp_path.iterdir()] == ["seed.nii.gz"]
    assert f"written to {tmp_path / 'seed.nii.gz'}" in out.getvalue()
    assert int(np.asanyarray(nibabel.load(tmp_path / "seed.nii.gz").dataobj).sum()) == SEED_VOXELS


@pytest.mark.django_db
def test_a_body_only_mask_holds_exactly_the_voxels_counted_inside_the_body(signed_in, django_capture_on_commit_callbacks):
    upload(signed_in, *PHANTOM_SLICES, capture=django_capture_on_commit_callbacks, body_only="on")
    measurement = Measurement.objects.get()
    assert measurement.body_only and measurement.state == "done"
    everything = int(measurement.result["total_voxels"])
    mask = np.asarray(nifti_of(signed_in.get(reverse("volumes:measurement-nifti", args=[measurement.pk]))).dataobj)
    assert int(mask.sum()) == measurement.voxels_above and measurement.voxels_above < everything
    seg = seg_of(signed_in.get(reverse("volumes:measurement-seg", args=[measurement.pk])))
    assert int(seg.pixel_array.astype(bool).sum()) == measurement.voxels_above


@pytest.mark.django_db
def test_the_mask_of_a_time_series_is_its_first_time_point(signed_in, tmp_path, django_capture_on_commit_callbacks):
    boxes = write_time_series(tmp_path, time_points=3, slices=4)
    upload(signed_in, *sorted(tmp_path.iterdir()), capture=django_capture_on_commit_callbacks, threshold="0.1")
    measurement = Measurement.objects.get()
    points = measurement.result["time_points"]
    assert len(points) == 3 and measurement.voxels_above == points[0]["voxels_above"] > 0
    mask = np.asarray(nifti_of(signed_in.get(reverse("volumes:measurement-nifti", args=[measurement.pk]))).dataobj)
    assert mask.shape[2] == 4 and int(mask.sum()) == points[0]["voxels_above"] == 4 * boxes[0]


@pytest.mark.django_db
def test_body_only_on_a_time_series_counts_inside_each_time_points_body(signed_in, tmp_path, django_capture_on_commit_callbacks):
    folder = write_time_points(tmp_path, [PATIENT, PATIENT_LATER])
    upload(signed_in, *sorted(folder.iterdir()), capture=django_capture_on_commit_callbacks,
           mode="modality", threshold="0", body_only="on")
    measurement = Measurement.objects.get()
    assert (measurement.state, measurement.body_only) == ("done", True)
    points = measurement.result["time_points"]
    assert [p["voxels_above"] for p in points] == [BODY.voxels - HOLE.voxels, BODY_LATER.voxels - HOLE.voxels]
    # The mask is time point 1's, inside its body; the page says so beside the links (the viewer shows every time point).
    mask = np.asarray(nifti_of(signed_in.get(reverse("volumes:measurement-nifti", args=[measurement.pk]))).dataobj)
    assert int(mask.sum()) == points[0]["voxels_above"] == measurement.voxels_above
    page = signed_in.get(measurement.get_absolute_url()).content.decode()
    assert page.count("time point 1 of 2") == 1 and "The masks hold time point 1 of 2" in page
    assert 'id="time-slider"' in page
