"""A measurement whose worker died is measured again by the next worker, or failed with the reason."""
import datetime
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from volumes import services
from volumes.models import Measurement
from volumes.services.measuring import process_start, worker_identity

from .conftest import SEED_FILE, SEED_VOXELS
from .test_services import HALF, uploaded
from .test_storage_check import REPO, child_env

SETUP = """
import django
django.setup()
from pathlib import Path
import sys
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
path = Path(sys.argv[1])
services.upload_ingest(owner=owner, files=[SimpleUploadedFile(path.name, path.read_bytes())],
                       request=ThresholdRequest(mode="normalized", value=0.5))
"""

STUCK_WORKER = """
import time
import django
django.setup()
from django.core.management import call_command
from volumes.services import measuring

def never_returns(*args, **kwargs):
    time.sleep(600)

measuring.histogram_volume = never_returns
call_command("measure_worker", "--interval", "0.1", "--no-startup-delay")
"""


def measurement_row(tmp_path: Path) -> dict:
    with sqlite3.connect(tmp_path / "var" / "db.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return dict(db.execute("select * from volumes_measurement").fetchone())


def wait_for(condition, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_a_worker_killed_mid_measurement_is_replaced_by_the_next_one_which_measures_it(tmp_path):
    env = child_env(tmp_path)
    subprocess.run([sys.executable, "-c", SETUP, str(SEED_FILE)], env=env, cwd=REPO, check=True, timeout=120)
    assert measurement_row(tmp_path)["state"] == "queued"

    stuck = subprocess.Popen([sys.executable, "-c", STUCK_WORKER], env=env, cwd=REPO)
    try:
        running = wait_for(lambda: (row := measurement_row(tmp_path))["state"] == "running" and row)
        assert running["worker"].endswith(f":{stuck.pid}@{process_start(stuck.pid)}")
        # It measures below the web server's priority (VOLUMES_WORKER_NICENESS, 10 by default).
        assert os.getpriority(os.PRIO_PROCESS, stuck.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    finally:
        os.kill(stuck.pid, signal.SIGKILL)
        stuck.wait()
    assert measurement_row(tmp_path)["state"] == "running"  # what the queue left: nobody will finish it

    restarted = subprocess.Popen(
        [sys.executable, "manage.py", "measure_worker", "--interval", "0.1", "--no-startup-delay", "--max-tasks", "1"],
        env=env, cwd=REPO,
    )
    try:
        assert restarted.wait(timeout=120) == 0
    finally:
        if restarted.poll() is None:
            restarted.kill()
    done = measurement_row(tmp_path)
    assert done["state"] == "done"
    assert done["voxels_above"] == SEED_VOXELS
    assert done["attempts"] == 2
    assert done["retry_reason"] == f"the worker measuring it (process {stuck.pid}) stopped before it finished"


@pytest.fixture
def measurement(db, django_capture_on_commit_callbacks):
    owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    return upload.measurements.get()


def as_if_running_in(measurement: Measurement, worker: str, attempts: int, started_ago_s: float = 1) -> None:
    Measurement.objects.filter(pk=measurement.pk).update(
        state=Measurement.State.RUNNING, worker=worker, attempts=attempts,
        started_at=timezone.now() - datetime.timedelta(seconds=started_ago_s),
    )


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_measurement_whose_worker_died_twice_fails_with_the_reason_on_page_and_api(measurement, client):
    pid = dead_pid()
    import socket

    as_if_running_in(measurement, f"{socket.gethostname()}:{pid}", attempts=2)
    (recovered,) = services.measurements_recover()
    assert recovered.state == Measurement.State.FAILED
    assert recovered.error_message.startswith(f"the worker measuring it (process {pid}) stopped before it finished, at each of its 2 attempts")
    client.force_login(measurement.series.study.owner)
    page = client.get(measurement.get_absolute_url()).content.decode()
    assert f"The measurement failed: the worker measuring it (process {pid}) stopped" in page
    body = client.get(reverse("volumes:api-measurement-detail", args=[measurement.pk])).json()
    assert body["state"] == "failed" and body["attempts"] == 2 and "stopped before it finished" in body["error_message"]


def test_a_measurement_on_another_host_is_retried_only_after_the_timeout(measurement, settings, django_capture_on_commit_callbacks):
    settings.VOLUMES_MEASUREMENT_TIMEOUT = 60
    as_if_running_in(measurement, "elsewhere:1", attempts=1, started_ago_s=30)
    assert services.measurements_recover() == []
    as_if_running_in(measurement, "elsewhere:1", attempts=1, started_ago_s=90)
    with django_capture_on_commit_callbacks(execute=True):
        (recovered,) = services.measurements_recover()
    assert recovered.retry_reason == "its worker gave no result within 60 s"
    recovered.refresh_from_db()
    assert recovered.state == Measurement.State.DONE and recovered.voxels_above == SEED_VOXELS


def test_the_page_and_the_api_say_a_measurement_was_retried(measurement, client, django_capture_on_commit_callbacks):
    as_if_running_in(measurement, "elsewhere:1", attempts=1, started_ago_s=10**6)
    with django_capture_on_commit_callbacks(execute=True):
        services.measurements_recover()
    client.force_login(measurement.series.study.owner)
    page = client.get(measurement.get_absolute_url()).content.decode()
    assert "Measured again, because its worker gave no result within 900 s." in page
    body = client.get(reverse("volumes:api-measurement-detail", args=[measurement.pk])).json()
    assert (body["state"], body["attempts"], body["retried_because"]) == ("done", 2, "its worker gave no result within 900 s")


def test_a_live_worker_on_this_host_is_left_alone(measurement):
    as_if_running_in(measurement, f"{__import__('socket').gethostname()}:{os.getpid()}", attempts=1)
    assert services.measurements_recover() == []
    measurement.refresh_from_db()
    assert measurement.state == Measurement.State.RUNNING


def test_a_worker_names_itself_by_host_process_and_start(measurement):
    """What measurement_run records is what the recovery sweep reads as alive while the worker runs."""
    import socket

    identity = worker_identity()
    start = Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19]
    assert identity == f"{socket.gethostname()}:{os.getpid()}@{start}" and int(start) > 0
    as_if_running_in(measurement, identity, attempts=1)
    assert services.measurements_recover() == []


def test_a_process_id_taken_by_a_later_process_is_a_dead_worker(measurement, django_capture_on_commit_callbacks):
    """A container's worker is process 1 again after its restart, on the same host name: the start
    recorded with the id tells the new worker from the one that died measuring."""
    import socket

    started = int(process_start(os.getpid()))
    as_if_running_in(measurement, f"{socket.gethostname()}:{os.getpid()}@{started - 1}", attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        (recovered,) = services.measurements_recover()
    assert recovered.retry_reason == f"the worker measuring it (process {os.getpid()}) stopped before it finished"
    recovered.refresh_from_db()
    assert recovered.state == Measurement.State.DONE and recovered.voxels_above == SEED_VOXELS


def test_a_measurement_never_queued_is_queued_by_the_next_sweep(db, django_capture_on_commit_callbacks):
    """The web process stopped between the commit and the queue: rows and files, but no task."""
    owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload = services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    callbacks[0]()  # the files moved into place; the queue's callback never runs
    measurement = upload.measurements.get()
    assert (measurement.state, measurement.task_id) == ("queued", "")
    assert services.measurements_recover() == []  # it may still be on its way
    Measurement.objects.filter(pk=measurement.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        (recovered,) = services.measurements_recover()
    assert recovered.retry_reason == "it was never handed to a worker: the web process stopped before it queued it"
    recovered.refresh_from_db()
    assert recovered.state == Measurement.State.DONE and recovered.voxels_above == SEED_VOXELS
    assert recovered.task_id not in ("", "requeued")
