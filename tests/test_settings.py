"""Settings from the environment: each case is a fresh process, as a server or a container starts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "engine": database["ENGINE"], "name": str(database["NAME"]), "host": database.get("HOST"),
    "allowed_hosts": settings.ALLOWED_HOSTS, "csrf_trusted_origins": settings.CSRF_TRUSTED_ORIGINS,
    "storage": settings.STORAGES["default"], "threshold": settings.VOLUMES_THRESHOLD,
    "secret_key": settings.SECRET_KEY,
}))
"""


def start(tmp_path, **variables) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("DJANGO_", "VOLUMES_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="dicomsite.settings", VOLUMES_VAR_DIR=str(tmp_path), **variables)
    return subprocess.run([sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def started(tmp_path, **variables) -> dict:
    run = start(tmp_path, **variables)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_without_configuration_it_runs_on_sqlite_and_local_files_with_a_kept_key(tmp_path):
    values = started(tmp_path)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "db.sqlite3")
    assert values["storage"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert values["allowed_hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    assert values["csrf_trusted_origins"] == []
    assert values["secret_key"] == (tmp_path / "secret_key").read_text() == started(tmp_path)["secret_key"]


def test_database_url_selects_postgresql_through_psycopg(tmp_path):
    values = started(tmp_path, DATABASE_URL="postgres://volumes:pw@db.internal:5432/volumes")
    assert (values["engine"], values["host"], values["name"]) == ("django.db.backends.postgresql", "db.internal", "volumes")


def test_hosts_and_origins_are_comma_separated_lists(tmp_path):
    values = started(
        tmp_path,
        DJANGO_ALLOWED_HOSTS="volumes.example.org,10.0.0.7",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://volumes.example.org,http://10.0.0.7:8000",
    )
    assert values["allowed_hosts"] == ["volumes.example.org", "10.0.0.7"]
    assert values["csrf_trusted_origins"] == ["https://volumes.example.org", "http://10.0.0.7:8000"]


def test_s3_media_storage_takes_its_bucket_and_endpoint(tmp_path):
    values = started(tmp_path, VOLUMES_MEDIA_STORAGE="s3", VOLUMES_S3_BUCKET="scans",
                     VOLUMES_S3_ENDPOINT_URL="http://objects:9000")
    assert values["storage"]["BACKEND"] == "storages.backends.s3.S3Storage"
    options = values["storage"]["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["addressing_style"]) == ("scans", "http://objects:9000", "path")
    assert options["default_acl"] == "private"


def test_an_unknown_media_storage_is_refused_by_name(tmp_path):
    run = start(tmp_path, VOLUMES_MEDIA_STORAGE="ftp")
    assert run.returncode != 0
    assert "VOLUMES_MEDIA_STORAGE='ftp': use 'filesystem' or 's3'." in run.stderr


def test_production_without_a_secret_key_refuses_to_start_and_says_why(tmp_path):
    run = start(tmp_path, VOLUMES_PRODUCTION="1")
    assert run.returncode != 0
    assert "DJANGO_SECRET_KEY is not set, and VOLUMES_PRODUCTION=1 refuses to start without one" in run.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_debug(tmp_path):
    run = start(tmp_path, VOLUMES_PRODUCTION="1", DJANGO_SECRET_KEY="k" * 50, DJANGO_DEBUG="1")
    assert run.returncode != 0
    assert "DJANGO_DEBUG=1 with VOLUMES_PRODUCTION=1" in run.stderr


def test_production_with_a_secret_key_uses_it(tmp_path):
    assert started(tmp_path, VOLUMES_PRODUCTION="1", DJANGO_SECRET_KEY="k" * 50)["secret_key"] == "k" * 50


@pytest.mark.parametrize("name, value", [("VOLUMES_THRESHOLD", "abc"), ("VOLUMES_MAX_UPLOAD_FILES", "many")])
def test_a_malformed_value_stops_the_process_naming_the_variable(tmp_path, name, value):
    run = start(tmp_path, **{name: value})
    assert run.returncode != 0
    assert name in run.stderr and value in run.stderr
