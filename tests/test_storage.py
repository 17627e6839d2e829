"""Media only through Django's storage API: the same use cases on the file system and on S3.

The S3 API is moto's server mode, started here on a free local port (no network); django-storages'
S3 backend talks to it over HTTP exactly as it would to a real object store.
"""
import tempfile
import uuid

import boto3
import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Instance, Measurement

from .conftest import SEED_FILE, SEED_VOLUME_MM3, SEED_VOXELS

pytestmark = pytest.mark.django_db
HALF = ThresholdRequest(mode="normalized", value=0.5)
CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_options(endpoint: str, bucket: str) -> dict:
    return {"bucket_name": bucket, "endpoint_url": endpoint, "addressing_style": "path",
            "default_acl": "private", "file_overwrite": False, **CREDENTIALS}


@pytest.fixture(params=["filesystem", "s3"])
def media(request, settings, private_media):
    """The media storage of one kind, empty; yields a function listing the names stored in it."""
    if request.param == "filesystem":
        yield lambda: sorted(str(p.relative_to(private_media)) for p in private_media.rglob("*") if p.is_file())
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"volumes-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": s3_options(endpoint, bucket)}}
    yield lambda: sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


@pytest.fixture
def ingest(owner, django_capture_on_commit_callbacks):
    """Upload the challenge file and run its measurement as the worker would (immediate backend)."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            upload = services.upload_ingest(
                owner=owner, files=[SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())], request=HALF
            )
        return Measurement.objects.get(upload=upload)

    return run


def test_an_upload_is_stored_measured_and_pictured_through_the_storage(ingest, media):
    measurement = ingest()
    assert (measurement.state, measurement.voxels_above, measurement.volume_mm3) == ("done", SEED_VOXELS, SEED_VOLUME_MM3)
    instance = Instance.objects.get()
    series = measurement.series
    assert media() == sorted([instance.file.name, series.histogram.name, measurement.thumbnail.name])
    with default_storage.open(instance.file.name, "rb") as stored:
        assert stored.read() == SEED_FILE.read_bytes()
    with default_storage.open(measurement.thumbnail.name, "rb") as picture:
        assert picture.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_worker_measures_again_from_the_stored_files_alone(ingest, media, django_capture_on_commit_callbacks):
    """Without the stored histograms the series is read back from the storage (streamed where it has no paths)."""
    first = ingest()
    series = first.series
    series.histogram.delete(save=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.measurement_remeasure(measurement=first, request=ThresholdRequest(mode="normalized", value=0.5))
    again.refresh_from_db()
    assert (again.state, again.voxels_above, again.volume_mm3) == ("done", SEED_VOXELS, SEED_VOLUME_MM3)
    series.refresh_from_db()
    assert series.histogram.name in media()


def test_the_s3_storage_has_no_local_paths(media, request):
    if request.node.callspec.params["media"] != "s3":
        assert default_storage.path("x").endswith("x")
        return
    with pytest.raises(NotImplementedError):
        default_storage.path("instances/x.dcm")


def test_the_preview_is_served_from_the_storage_to_its_owner(ingest, owner, media, client):
    measurement = ingest()
    client.force_login(owner)
    response = client.get(f"/measurements/{measurement.pk}/preview.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_health_probes_the_storage_in_use(client, media, request):
    storage = client.get("/healthz").json()["storage"]
    expected = "S3Storage" if request.node.callspec.params["media"] == "s3" else "FileSystemStorage"
    assert storage == {"ok": True, "backend": expected}


def test_health_is_503_when_the_bucket_is_missing(client, settings, s3_endpoint):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": s3_options(s3_endpoint, "no-such-bucket")}}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["storage"] == {"ok": False, "error": "NoSuchBucket"}


def test_files_streamed_from_the_storage_are_removed_once_read(ingest, media, monkeypatch, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    measurement = ingest()
    assert measurement.volume_mm3 == SEED_VOLUME_MM3
    assert list(scratch.iterdir()) == []
