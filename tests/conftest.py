import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse


def find_shared_data() -> Path:
    """The team's shared data: $VOLUMES_SHARED_DATA, else ../shared/data beside the checkout."""
    candidates = [
        os.environ.get("VOLUMES_SHARED_DATA"),
        Path(__file__).resolve().parents[2] / "shared" / "data",
        Path("/work/shared/data"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "seed-challenge" / "1-101.dcm").is_file():
            return Path(candidate)
    raise RuntimeError("The shared test data is missing: set VOLUMES_SHARED_DATA to the folder holding seed-challenge/")


SHARED_DATA = find_shared_data()
SEED_FILE = SHARED_DATA / "seed-challenge" / "1-101.dcm"
INVALID_FILES = [SHARED_DATA / "seed-challenge" / "invalid.dicom", SHARED_DATA / "seed-challenge" / "not_dicom.txt"]
PHANTOM_DIR = SHARED_DATA / "ct-phantom-philips"

SEED_VOXELS = 50_080
SEED_VOLUME_MM3 = 143_280.029296875
PHANTOM_VOXELS = 1_181_064
PHANTOM_VOLUME_MM3 = 651_664.45
PHANTOM_BODY_VOXELS = 957_148
"""The tilted phantom at 0.5 with body only: the head holder (the couch) left out (tests/test_body.py)."""


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Every test stores its files (and cached slice pictures) in a folder of its own, and runs tasks as soon as they are queued."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.VOLUMES_DECODE_PROCESSES = 2
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # The throttle's counts in memory, emptied before each test; tests/test_throttle_shared.py
        # proves the database cache of the settings shared by two servers.
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"},
        "slices": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path / "slices")},
    }
    return settings.MEDIA_ROOT


@pytest.fixture
def phantom_copy(tmp_path) -> Path:
    """A writable copy of the tilted CT phantom folder (the shared data is read-only)."""
    target = tmp_path / "ct-phantom-philips"
    shutil.copytree(PHANTOM_DIR, target)
    return target


@pytest.fixture(autouse=True)
def fresh_cache(private_media):
    """Throttle counts live in the cache: each test starts with none."""
    from django.core.cache import caches

    caches["throttle"].clear()
    yield
    caches["throttle"].clear()


def own_sqlite_environment() -> dict:
    """This process's environment for a child process that keeps a SQLite database of its own in its
    VOLUMES_VAR_DIR: without the DATABASE_URL that CI's PostgreSQL run of the suite sets."""
    return {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}


def forget_volume(measurement, reason: str) -> None:
    """Make a stored measurement one without a volume, for `reason` (as a series without depth gives)."""
    measurement.refresh_from_db()
    measurement.volume_mm3 = None
    measurement.result = {**measurement.result, "volume_mm3": None, "volume_ml": None, "volume_unavailable_reason": reason}
    measurement.save(update_fields=["volume_mm3", "result"])


@pytest.fixture
def user(db):
    """A person with an account (the pages' tests sign in as her)."""
    return get_user_model().objects.create_user("ada", password="a-long-secret-1")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def page_upload(client, *paths, **fields):
    """Post files through the upload page's form, as a person does."""
    files = [SimpleUploadedFile(path.name, path.read_bytes()) for path in paths]
    return client.post(reverse("volumes:upload"), {"files": files, **fields})
