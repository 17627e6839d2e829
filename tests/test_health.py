"""GET /healthz: the database, the storage and the queue, 200 when all answer, 503 when one is down."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from volumes.tasks import measure_task

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]
DATABASE_BACKEND = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def test_health_answers_200_without_signing_in_and_from_any_host(client):
    response = client.get("/healthz", HTTP_HOST="172.18.0.5:8000")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "vendor": connection.vendor}  # sqlite, or postgresql in CI's second run
    assert body["storage"] == {"ok": True, "backend": "FileSystemStorage"}
    assert body["queue"]["ok"] is True


def test_health_counts_the_tasks_waiting_in_the_database_queue(client, settings):
    settings.TASKS = DATABASE_BACKEND
    for measurement_id in (101, 102, 103):
        measure_task.enqueue(measurement_id=measurement_id)
    queue = client.get("/healthz").json()["queue"]
    assert queue == {"ok": True, "backend": "DatabaseBackend", "waiting": 3, "running": 0}


def test_health_is_503_when_the_media_folder_cannot_be_made(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    settings.MEDIA_ROOT = blocker / "media"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["storage"]["ok"] is False and body["database"]["ok"] is True


def test_health_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405


def test_health_is_503_when_the_database_does_not_answer(tmp_path):
    """A real server address where nothing listens (port 9 on this machine), in a process of its own."""
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:9/b14_nowhere",
           "VOLUMES_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "dicomsite.settings"}
    code = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code); print(r.content.decode())"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    status, body = run.stdout.strip().split("\n", 1)
    assert status == "503"
    body = json.loads(body)
    assert body["database"] == {"ok": False, "error": "OperationalError"}
    assert body["queue"]["ok"] is False
