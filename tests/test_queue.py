"""The queue in PostgreSQL: two real worker processes share the tasks, each measurement runs once.

The workers run docker-compose.yml's worker command (`manage.py measure_worker`, whose recovery sweep
must not take a task another live worker holds). django-tasks-db's worker claims a task with SELECT …
FOR UPDATE SKIP LOCKED (DBTaskResultQuerySet.get_locked), so a worker never waits on a row another
holds and never takes it a second time.
"""
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pydicom
import pytest
import yaml
from pydicom.uid import generate_uid

from .conftest import SEED_FILE, SEED_VOLUME_MM3
from .postgres import scratch_database

ROOT = Path(__file__).resolve().parents[1]
SERIES = 20
COMPOSE_WORKER = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]["command"]
WORKER = [sys.executable, *COMPOSE_WORKER[1:]]
FINISHED = re.compile(r"Task id=([0-9a-f-]{36}) path=volumes\.tasks\.measure_task state=(\w+)")

UPLOAD_SERIES = """
from pathlib import Path
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(Path({folder!r}).iterdir())]
upload = services.upload_ingest(owner=owner, files=files, request=ThresholdRequest(mode="normalized", value=0.5))
print(upload.measurements.count())
"""
RESULTS = """
from collections import Counter
from django_tasks_db.models import DBTaskResult
from volumes.models import Measurement
print(sorted(Counter((m.state, m.volume_mm3) for m in Measurement.objects.all()).items()))
print(sorted(Counter((t.status, len(t.worker_ids)) for t in DBTaskResult.objects.all()).items()))
"""


def write_series(folder: Path) -> None:
    """The challenge file as 20 series of their own (new UIDs), so that each measurement reads pixels."""
    folder.mkdir()
    for index in range(SERIES):
        dataset = pydicom.dcmread(SEED_FILE)
        dataset.SeriesInstanceUID = generate_uid()
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.save_as(folder / f"series-{index:02d}.dcm")


def manage(env, *args, timeout=120) -> str:
    run = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.django_db(databases=[])
def test_two_workers_on_one_postgresql_run_each_of_20_measurements_exactly_once(tmp_path):
    write_series(tmp_path / "series")
    with scratch_database() as url:
        env = {**os.environ, "DATABASE_URL": url, "VOLUMES_VAR_DIR": str(tmp_path / "var"),
               "VOLUMES_DECODE_PROCESSES": "1", "DJANGO_LOG_LEVEL": "INFO",
               # each worker's recovery sweep looks at the other's running measurements all along
               "VOLUMES_WORKER_SWEEP_SECONDS": "0.2"}
        manage(env, "migrate", "--noinput")
        logs = [open(tmp_path / f"worker-{n}.log", "w+") for n in (1, 2)]
        workers = [subprocess.Popen([*WORKER, "--worker-id", f"worker-{n}"], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT) for n, log in zip((1, 2), logs)]
        try:
            enqueued = manage(env, "shell", "--no-imports", "-c", UPLOAD_SERIES.format(folder=str(tmp_path / "series")))
            assert enqueued.strip() == str(SERIES)
            deadline = time.monotonic() + 180
            finished = []
            while time.monotonic() < deadline:
                finished = [FINISHED.findall(open(log.name).read()) for log in logs]
                if sum(state == "SUCCESSFUL" for found in finished for _, state in found) >= SERIES:
                    break
                assert all(worker.poll() is None for worker in workers), "a worker stopped"
                time.sleep(0.2)
            time.sleep(0.5)  # a task run twice would show now
            finished = [FINISHED.findall(open(log.name).read()) for log in logs]
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
        runs = Counter(task for found in finished for task, state in found if state == "SUCCESSFUL")
        assert len(runs) == SERIES and set(runs.values()) == {1}, runs
        assert all(finished), "each worker took tasks: they do not wait for each other"
        measurements, tasks = manage(env, "shell", "--no-imports", "-c", RESULTS).strip().splitlines()
        assert measurements == str([(("done", SEED_VOLUME_MM3), SERIES)])
        assert tasks == str([(("SUCCESSFUL", 1), SERIES)])
