"""The JSON API: the same measurement as the page and the command, errors as JSON with a message.

Requests sign in with a personal API token, as a script does; the session (a browser) is tested apart.
"""
import base64

import numpy as np
import pydicom
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement, Study, Upload

from .conftest import (
    INVALID_FILES,
    PHANTOM_BODY_VOXELS,
    PHANTOM_DIR,
    PHANTOM_VOXELS,
    SEED_FILE,
    SEED_VOLUME_MM3,
    SEED_VOXELS,
)

pytestmark = pytest.mark.django_db

COMMAND_FIELDS = {
    "series_instance_uid", "modality", "description", "slices", "rows", "columns", "pixel_spacing_mm", "slab_mm",
    "mode", "threshold", "threshold_modality", "voxels_above", "total_voxels", "volume_mm3", "volume_ml", "warnings",
    "volume_unavailable_reason", "stats", "volume_label", "time_points",
}


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


def token_client(user, keyword: str = "Bearer") -> Client:
    """A client that signs every request in with a new API token of `user` (no session, CSRF enforced)."""
    _, key = services.token_create(user=user, name="tests")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"{keyword} {key}")


@pytest.fixture
def api(user):
    return token_client(user)


def post_files(client, *paths, **fields):
    """POST the files (and form fields; HTTP_* keys are headers) to the API's upload."""
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in paths]
    headers = {key: fields.pop(key) for key in list(fields) if key.startswith("HTTP_")}
    return client.post(reverse("volumes:api-measurement-list"), {"files": files, **fields}, **headers)


def test_posting_the_seed_file_answers_202_and_the_result_is_the_reference_volume(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(api, SEED_FILE)
    assert response.status_code == 202
    body = response.json()
    (created,) = body["measurements"]
    assert created["url"].endswith(reverse("volumes:api-measurement-detail", args=[created["id"]]))
    assert body["skipped"] == []

    result = api.get(created["url"]).json()
    assert result["state"] == "done"
    assert COMMAND_FIELDS <= set(result)
    assert (result["volume_label"], result["time_points"]) == ("", None)
    assert result["voxels_above"] == SEED_VOXELS
    assert result["volume_mm3"] == pytest.approx(SEED_VOLUME_MM3, abs=1e-9)
    assert result["volume_ml"] == pytest.approx(SEED_VOLUME_MM3 / 1000, abs=1e-12)
    assert result["total_voxels"] == 512 * 512
    assert result["pixel_spacing_mm"] == [0.9765625, 0.9765625]
    assert result["slab_mm"] == {"min": 3.0, "max": 3.0, "mean": 3.0}
    assert result["threshold"] == 0.5
    assert result["volume_unavailable_reason"] is None
    assert result["stats"]["min"] > result["threshold_modality"]


def test_a_queued_measurement_reports_only_its_state(api):
    response = post_files(api, SEED_FILE)  # on-commit callbacks do not run: nothing is queued
    (created,) = response.json()["measurements"]
    result = api.get(created["url"]).json()
    assert result["state"] == "queued"
    assert "volume_mm3" not in result


def test_the_threshold_and_mode_fields_are_used(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(api, SEED_FILE, mode="modality", threshold="300")
    (created,) = response.json()["measurements"]
    result = api.get(created["url"]).json()
    assert result["mode"] == "modality"
    assert result["threshold_modality"] == 300.0
    assert 0 < result["voxels_above"] < SEED_VOXELS


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_a_file_that_is_not_dicom_gets_a_json_400_and_nothing_is_stored(api, path, private_media):
    response = post_files(api, path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == f"{path.name} cannot be measured: not a DICOM file (no DICOM preamble or header)."
    assert body["skipped"] == [{"file": path.name, "reason": "not a DICOM file (no DICOM preamble or header)"}]
    assert not Upload.objects.exists() and not Study.objects.exists() and not Instance.objects.exists()
    assert not private_media.exists() or not any(p.is_file() for p in private_media.rglob("*"))


def test_bad_files_beside_a_good_one_are_listed_as_skipped(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(api, SEED_FILE, *INVALID_FILES)
    assert response.status_code == 202
    body = response.json()
    assert {item["file"] for item in body["skipped"]} == {p.name for p in INVALID_FILES}
    (created,) = body["measurements"]
    assert api.get(created["url"]).json()["voxels_above"] == SEED_VOXELS


def test_no_files_is_a_json_400(api):
    response = api.post(reverse("volumes:api-measurement-list"), {})
    assert response.status_code == 400
    assert response.json()["error"] == "Choose at least one DICOM file, a folder or a .zip archive."


def test_an_invalid_threshold_is_a_json_400(api):
    response = post_files(api, SEED_FILE, threshold="half")
    assert response.status_code == 400
    assert response.json()["error"] == "the threshold 'half' is not a number"
    assert not Measurement.objects.exists()


def test_an_unknown_mode_is_a_json_400(api):
    response = post_files(api, SEED_FILE, mode="magic")
    assert response.status_code == 400
    assert "magic" in response.json()["error"]


def test_without_sign_in_the_api_answers_401_json(client):
    response = client.get(reverse("volumes:api-measurement-detail", args=[1]))
    assert response.status_code == 401
    assert response.json()["error"].startswith("Sign in first")


@pytest.mark.parametrize("keyword", ["Bearer", "Token"])
def test_an_api_token_works_without_csrf_under_either_keyword(user, keyword, django_capture_on_commit_callbacks):
    client = token_client(user, keyword)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(client, SEED_FILE)
    assert response.status_code == 202
    assert Measurement.objects.get().voxels_above == SEED_VOXELS


def test_http_basic_credentials_no_longer_sign_in(user):
    credentials = base64.b64encode(b"ada:a-long-secret-1").decode()
    response = Client().get(reverse("volumes:api-measurement-list"), HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_session_get_works_without_csrf(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.get(reverse("volumes:api-measurement-list"))
    assert response.status_code == 200 and response.json()["count"] == 0


def test_a_session_post_without_the_csrf_token_is_refused_as_json(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post_files(client, SEED_FILE)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]
    assert not Upload.objects.exists()


def test_a_session_post_from_another_origin_is_refused_even_with_the_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("volumes:upload"))  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = post_files(client, SEED_FILE, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://evil.example")
    assert response.status_code == 403
    assert "Origin checking failed" in response.json()["error"]
    assert not Upload.objects.exists()
    allowed = post_files(client, SEED_FILE, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver")
    assert allowed.status_code == 202


def test_another_users_measurement_is_a_json_404(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        (created,) = post_files(api, SEED_FILE).json()["measurements"]
    other = get_user_model().objects.create_user("bob", password="a-long-secret-3")
    response = token_client(other).get(created["url"])
    assert response.status_code == 404
    assert response.json() == {"error": "No such measurement."}


def test_a_wrong_method_is_a_json_405(api):
    response = api.delete(reverse("volumes:api-measurement-list"))
    assert response.status_code == 405
    assert response.json()["error"] == "Use GET or POST here."


def test_listing_gives_the_users_measurements_newest_first(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post_files(api, SEED_FILE).json()["measurements"][0]["id"]
        second = post_files(api, SEED_FILE, threshold="0.6").json()["measurements"][0]["id"]
    body = api.get(reverse("volumes:api-measurement-list")).json()
    assert body["count"] == 2 and body["next"] is None
    assert [item["id"] for item in body["results"]] == [second, first]
    assert body["results"][1]["voxels_above"] == SEED_VOXELS
    other = get_user_model().objects.create_user("bob", password="a-long-secret-3")
    assert token_client(other).get(reverse("volumes:api-measurement-list")).json()["count"] == 0


def test_remeasure_through_the_api_is_immediate_once_histograms_exist(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        (created,) = post_files(api, SEED_FILE).json()["measurements"]
    response = api.post(reverse("volumes:api-measurement-remeasure", args=[created["id"]]), {"mode": "otsu"})
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "done" and body["mode"] == "otsu"
    dataset = pydicom.dcmread(SEED_FILE)
    modality = dataset.pixel_array.astype(np.float64) * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    chosen = body["threshold_modality"]
    assert modality.min() < chosen < modality.max()
    assert body["threshold"] == pytest.approx((chosen - modality.min()) / (modality.max() - modality.min()))
    assert body["voxels_above"] == int((modality > chosen).sum())
    assert Measurement.objects.count() == 2


def test_an_unknown_api_url_is_a_json_404(api):
    for url in ("/api/nothing/", "/api/measurements/abc/", "/api/measurements/-1/remeasure/"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.json() == {"error": "No such API endpoint: see /api/docs/."}


def test_an_upload_of_more_files_than_allowed_is_a_json_400(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = post_files(api, SEED_FILE, SEED_FILE, SEED_FILE)
    assert response.status_code == 400
    assert response.json()["error"].startswith("An upload may hold at most 2 files (VOLUMES_MAX_UPLOAD_FILES)")
    assert not Upload.objects.exists()


def test_an_unexpected_failure_is_a_json_500_logged_without_details_in_the_answer(api, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("volumes.services.upload_ingest", broken)
    response = post_files(api, SEED_FILE)
    assert response.status_code == 500
    assert response.json() == {"error": "Internal error; it has been logged for the administrators."}
    assert "disk on fire" in caplog.text


def test_body_only_and_a_range_through_the_api(api, django_capture_on_commit_callbacks):
    paths = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(api, *paths, body_only="true")
    assert response.status_code == 202
    (created,) = response.json()["measurements"]
    body = api.get(reverse("volumes:api-measurement-detail", args=[created["id"]])).json()
    assert (body["state"], body["body_only"], body["voxels_above"]) == ("done", True, PHANTOM_BODY_VOXELS)
    assert body["voxels_above"] < PHANTOM_VOXELS  # the head holder left out

    fields = {"mode": "modality", "threshold": "-115.5", "upper": "700", "body_only": "true"}
    response = api.post(reverse("volumes:api-measurement-remeasure", args=[created["id"]]), fields)
    assert response.status_code == 201
    again = response.json()
    assert (again["state"], again["body_only"], again["threshold_upper_modality"]) == ("done", True, 700.0)
    series = Measurement.objects.get(pk=created["id"]).series
    expected = services.measurement_live(series=series, request=ThresholdRequest("modality", -115.5, upper=700.0, body_only=True))
    assert again["voxels_above"] == expected.voxels_above < PHANTOM_BODY_VOXELS
