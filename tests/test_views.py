"""The pages, driven as a person would: sign in, upload, wait for the task, read the result."""
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from volumes.models import Instance, Measurement, Series, Study, Upload

from .conftest import INVALID_FILES, PHANTOM_DIR, SEED_FILE, SEED_VOXELS
from .conftest import page_upload as upload

pytestmark = pytest.mark.django_db


def test_upload_page_needs_sign_in(client):
    response = client.get(reverse("volumes:upload"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_upload_page_offers_the_configured_threshold(signed_in, settings):
    settings.VOLUMES_THRESHOLD = 0.35
    response = signed_in.get(reverse("volumes:upload"))
    assert response.status_code == 200
    assert 'value="0.35"' in response.content.decode()
    assert 'name="files"' in response.content.decode()


def test_whole_flow_from_sign_in_to_admin(client, user, django_capture_on_commit_callbacks):
    signed = client.post(reverse("login"), {"username": "ada", "password": "a-long-secret-1"})
    assert signed.status_code == 302 and signed["Location"] == reverse("volumes:upload")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, SEED_FILE)
    measurement = Measurement.objects.get()
    assert response.status_code == 302
    assert response["Location"] == measurement.get_absolute_url()
    assert measurement.state == Measurement.State.DONE
    assert measurement.voxels_above == SEED_VOXELS

    page = client.get(measurement.get_absolute_url()).content.decode()
    assert "143,280 mm³" in page
    assert "143.280 mL" in page
    assert "50,080" in page
    assert "262,144" in page
    assert "0.9765625 × 0.9765625 mm" in page
    preview_url = reverse("volumes:measurement-preview", args=[measurement.pk])
    assert preview_url in page
    picture = client.get(preview_url)
    assert picture.status_code == 200
    assert picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content).startswith(b"\x89PNG")

    history = client.get(reverse("volumes:measurement-list")).content.decode()
    assert measurement.get_absolute_url() in history
    assert "143,280 mm³" in history

    admin = get_user_model().objects.create_superuser("root", password="another-secret-2")
    client.force_login(admin)
    listing = client.get(reverse("admin:volumes_measurement_changelist")).content.decode()
    admin_preview_url = reverse("admin:volumes_measurement_preview", args=[measurement.pk])
    assert admin_preview_url in listing
    assert client.get(admin_preview_url).status_code == 200
    assert client.get(reverse("admin:volumes_measurement_change", args=[measurement.pk])).status_code == 200
    for model in ("study", "series", "instance", "upload"):
        assert client.get(reverse(f"admin:volumes_{model}_changelist")).status_code == 200

    other = get_user_model().objects.create_user("bob", password="a-long-secret-3")
    client.force_login(other)
    assert client.get(measurement.get_absolute_url()).status_code == 404
    assert client.get(preview_url).status_code == 404
    assert client.get(reverse("volumes:upload-detail", args=[measurement.upload_id])).status_code == 404
    assert measurement.get_absolute_url() not in client.get(reverse("volumes:measurement-list")).content.decode()


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_a_file_that_is_not_dicom_is_refused_with_its_reason(signed_in, path):
    response = upload(signed_in, path)
    assert response.status_code == 400
    page = response.content.decode()
    assert f"{path.name} cannot be measured: not a DICOM file" in page
    assert not Upload.objects.exists() and not Study.objects.exists() and not Instance.objects.exists()


def test_an_empty_file_is_refused(signed_in):
    response = signed_in.post(reverse("volumes:upload"), {"files": [SimpleUploadedFile("empty.dcm", b"")]})
    assert response.status_code == 400
    assert "empty.dcm cannot be measured: an empty file (0 bytes)" in response.content.decode()


def test_bad_files_are_listed_and_the_good_one_is_measured(signed_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(signed_in, SEED_FILE, *INVALID_FILES)
    measurement = Measurement.objects.get()
    assert response["Location"] == measurement.get_absolute_url()
    page = signed_in.get(measurement.get_absolute_url()).content.decode()
    assert "2 files not measured" in page
    for path in INVALID_FILES:
        assert re.search(rf"<code>{re.escape(path.name)}</code>: not a DICOM file", page)
    assert measurement.voxels_above == SEED_VOXELS


def test_an_unfinished_measurement_page_polls_its_status_and_reloads_only_without_script(signed_in):
    upload(signed_in, SEED_FILE)  # no on-commit callbacks run: the task is never queued
    measurement = Measurement.objects.get()
    assert measurement.state == Measurement.State.QUEUED
    page = signed_in.get(measurement.get_absolute_url()).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    status_url = reverse("volumes:measurement-status", args=[measurement.pk])
    assert f'data-status-url="{status_url}"' in page
    assert "Waiting for a worker" in page
    assert signed_in.get(status_url).json() == {"state": "queued", "finished": False}


def test_remeasure_keeps_both_measurements(signed_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(signed_in, SEED_FILE)
    first = Measurement.objects.get()
    response = signed_in.post(
        reverse("volumes:measurement-remeasure", args=[first.pk]), {"mode": "modality", "threshold": "300"}
    )
    second = Measurement.objects.exclude(pk=first.pk).get()
    assert response["Location"] == second.get_absolute_url()
    assert second.state == Measurement.State.DONE
    assert second.result["threshold_modality"] == 300
    assert 0 < second.voxels_above < first.voxels_above
    assert Series.objects.count() == 1 and Instance.objects.count() == 1


def test_remeasure_rejects_a_threshold_out_of_range(signed_in, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(signed_in, SEED_FILE)
    first = Measurement.objects.get()
    response = signed_in.post(
        reverse("volumes:measurement-remeasure", args=[first.pk]), {"mode": "normalized", "threshold": "1.5"}
    )
    assert response.status_code == 400
    assert "a normalised threshold lies between 0 and 1, not 1.5" in response.content.decode()
    assert Measurement.objects.count() == 1


def test_uploading_the_same_file_twice_stores_it_once(signed_in, django_capture_on_commit_callbacks, private_media):
    with django_capture_on_commit_callbacks(execute=True):
        upload(signed_in, SEED_FILE)
        upload(signed_in, SEED_FILE, threshold="0.6")
    assert Instance.objects.count() == 1
    assert Measurement.objects.count() == 2
    stored = list((private_media / "instances").rglob("*.dcm"))
    assert len(stored) == 1
    assert stored[0].name == f"{Instance.objects.get().sha256}.dcm"


def test_sign_up_creates_an_account_and_signs_in(client):
    response = client.post(
        reverse("volumes:signup"),
        {"username": "grace", "password1": "Rad1ology-Research", "password2": "Rad1ology-Research"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("volumes:upload")
    assert client.get(reverse("volumes:upload")).status_code == 200


def test_sign_up_can_be_closed(client, settings):
    assert reverse("volumes:signup") in client.get(reverse("login")).content.decode()
    settings.VOLUMES_ALLOW_SIGNUP = False
    assert client.get(reverse("volumes:signup")).status_code == 404
    assert reverse("volumes:signup") not in client.get(reverse("login")).content.decode()


def test_a_multi_series_upload_lists_every_volume(signed_in, django_capture_on_commit_callbacks):
    phantom_slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:3]
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(signed_in, SEED_FILE, *phantom_slices)
    upload_row = Upload.objects.get()
    assert response["Location"] == upload_row.get_absolute_url()
    page = signed_in.get(upload_row.get_absolute_url()).content.decode()
    assert "2 volumes measured" in page
    for measurement in upload_row.measurements.all():
        assert measurement.get_absolute_url() in page
        assert measurement.state == "done"
