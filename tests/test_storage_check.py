"""Nothing half-stored: a process killed (SIGKILL) while it stores an upload leaves only what
`manage.py check_storage` finds and repairs; the command on its own findings."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from volumes import services
from volumes.models import Instance, Series

from .conftest import PHANTOM_DIR, SEED_FILE, own_sqlite_environment
from .test_services import HALF, uploaded

REPO = Path(__file__).resolve().parents[1]

STORE_UNTIL_KILLED = """
import os, sys, time
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from volumes import services
from volumes.services import uploads
from volumes.imaging.thresholds import ThresholdRequest

stop_at, marker, *paths = sys.argv[1:]
hook = "file_set_pending" if stop_at == "before-commit" else "pending_store"
real = getattr(uploads, hook)
calls = []

def then_wait(**kwargs):
    real(**kwargs)
    calls.append(1)
    if len(calls) == 3:  # three files done, the others not: wait here to be killed
        Path(marker).write_text("ready")
        time.sleep(600)

setattr(uploads, hook, then_wait)
owner = get_user_model().objects.create_user("victim", password="x-long-secret-1")
files = [SimpleUploadedFile(Path(p).name, Path(p).read_bytes()) for p in paths]
services.upload_ingest(owner=owner, files=files, request=ThresholdRequest(mode="normalized", value=0.5))
"""


def child_env(tmp_path: Path) -> dict:
    return {
        **own_sqlite_environment(),
        "DJANGO_SETTINGS_MODULE": "dicomsite.settings",
        "VOLUMES_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_MEDIA_ROOT": str(tmp_path / "var" / "media"),
        "PYTHONPATH": str(REPO),
    }


def store_and_kill(tmp_path: Path, stop_at: str, paths: list[Path]) -> None:
    marker = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", STORE_UNTIL_KILLED, stop_at, str(marker), *map(str, paths)],
        env=child_env(tmp_path), cwd=REPO,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert child.poll() is None, "the storing process ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL


def check_storage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check_storage", "--min-age", "0", *args],
        env=child_env(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def instance_rows(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "var" / "db.sqlite3") as db:
        return db.execute("select file, sha256 from volumes_instance order by file").fetchall()


PHANTOM_SLICES = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:8]


def test_killed_before_the_commit_leaves_no_row_and_check_storage_removes_the_staged_files(tmp_path):
    store_and_kill(tmp_path, "before-commit", PHANTOM_SLICES)
    media = tmp_path / "var" / "media"
    assert instance_rows(tmp_path) == []
    assert files_in(media / "instances") == []
    leftovers = files_in(media / "staging")
    assert len(leftovers) >= 3  # renamed to pending, and the upload's working copies

    found = check_storage(tmp_path)
    assert found.returncode == 1
    assert "staging leftovers: pending/" in found.stdout
    assert files_in(media / "staging") == leftovers  # a dry run changes nothing

    repaired = check_storage(tmp_path, "--repair")
    assert repaired.returncode == 0, repaired.stderr
    assert files_in(media) == []
    assert check_storage(tmp_path).returncode == 0


def test_killed_after_the_commit_leaves_rows_whose_files_check_storage_moves_into_place(tmp_path):
    store_and_kill(tmp_path, "after-commit", PHANTOM_SLICES)
    media = tmp_path / "var" / "media"
    rows = instance_rows(tmp_path)
    assert len(rows) == len(PHANTOM_SLICES)
    assert len(files_in(media / "instances")) == 3  # three moved before the kill

    found = check_storage(tmp_path)
    assert found.returncode == 1
    assert found.stdout.count("stores completed:") == len(PHANTOM_SLICES) - 3

    assert check_storage(tmp_path, "--repair").returncode == 0
    assert [str(p.relative_to(media)) for p in files_in(media / "instances")] == [name for name, _ in rows]
    assert files_in(media / "staging") == []
    for name, digest in rows:
        assert services.file_sha256(media / name) == digest
    assert check_storage(tmp_path).returncode == 0


@pytest.mark.django_db
def test_check_storage_finds_files_without_rows_and_rows_without_files(private_media, capsys, django_capture_on_commit_callbacks):
    owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
    with django_capture_on_commit_callbacks(execute=True):
        services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    orphan = default_storage.save("instances/ab/orphan.dcm", ContentFile(b"left by a crash"))
    instance = Instance.objects.get()
    series = Series.objects.get()
    assert series.histogram  # measured at once (immediate backend)
    default_storage.delete(instance.file.name)

    with pytest.raises(SystemExit) as exit_status:
        call_command("check_storage", "--min-age", "0")
    assert exit_status.value.code == 1
    out = capsys.readouterr().out
    assert f"files without rows: {orphan} (no row names it)" in out
    assert f"rows without files: instance {instance.pk}: {instance.file.name} (the file is missing)" in out
    assert default_storage.exists(orphan) and Instance.objects.exists()

    call_command("check_storage", "--min-age", "0", "--repair")
    assert not default_storage.exists(orphan)
    assert not Instance.objects.exists()
    series.refresh_from_db()
    assert not series.histogram  # built again from the files left
    call_command("check_storage", "--min-age", "0")  # nothing left: no SystemExit
    assert "0 problem(s) found" in capsys.readouterr().out


@pytest.mark.django_db
def test_check_storage_leaves_young_files_alone(private_media, capsys):
    orphan = default_storage.save("thumbnails/young.png", ContentFile(b"being written"))
    call_command("check_storage", "--repair")
    assert default_storage.exists(orphan)


@pytest.mark.django_db
def test_a_failed_upload_leaves_the_pending_file_another_upload_waits_with(private_media, monkeypatch):
    owner = get_user_model().objects.create_user("ada", password="a-long-secret-1")
    waiting = services.staging_dir() / "pending" / f"{services.file_sha256(SEED_FILE)}.dcm"
    waiting.parent.mkdir(parents=True)
    waiting.write_bytes(SEED_FILE.read_bytes())  # the same content, renamed there by an upload not yet committed

    def broken(**kwargs):
        raise RuntimeError("the queue is down")

    monkeypatch.setattr(services.uploads, "measurement_enqueue", broken)
    with pytest.raises(RuntimeError):
        services.upload_ingest(owner=owner, files=uploaded(SEED_FILE), request=HALF)
    assert waiting.read_bytes() == SEED_FILE.read_bytes()
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_a_zip_upload_cut_by_a_crash_leaves_staging_leftovers_check_storage_removes(private_media, capsys):
    """A process killed while a zip arrives never closes its files: the archive file and the folder of
    the entries split out of it stay in staging until check_storage removes them."""
    import io
    import zipfile

    from volumes.imaging.digests import DigestThread
    from volumes.upload_handlers import StagingUploadHandler

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in PHANTOM_SLICES[:3]:
            archive.write(path, path.name)
    raw = buffer.getvalue()
    handler = StagingUploadHandler()
    with DigestThread() as handler.digests:  # as handle_raw_input gives the files a thread to hash on
        handler.new_file("files", "a.zip", "application/zip", len(raw))
        handler.receive_data_chunk(raw[: len(raw) // 2], 0)  # then the process dies: nothing is closed
    staging = services.staging_dir()
    left = sorted(p.name for p in staging.iterdir())
    assert sorted(name.rsplit(".", 1)[1] for name in left) == ["entries", "part"]
    entries = next(staging.glob("*.entries"))
    assert len(list(entries.iterdir())) == 2  # the first entry whole, the second cut

    with pytest.raises(SystemExit):
        call_command("check_storage", "--min-age", "0")
    assert sorted(line.split(": ")[1].split(" (")[0] for line in capsys.readouterr().out.splitlines()[:-1]) == left
    call_command("check_storage", "--min-age", "0", "--repair")
    assert list(staging.iterdir()) == []
    handler.file.close()  # this process lives on: its file objects, of files already deleted
