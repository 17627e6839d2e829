"""How much memory the web process needs to take in a large upload: a 1 GB zip of DICOM files.

    .venv/bin/python bench/upload_memory.py [--size-mb 1024] [--keep]

Writes a zip archive (ZIP_STORED, so it is as large as its files) of synthetic 512×512 CT slices
(bench/phantom.py) into bench/out/, starts the site with gunicorn (one worker, one thread, as
`make run` serves it) on a fresh database and media folder, and posts the archive to the API as
multipart/form-data, streamed from disk. Measurements are queued for a worker that is not running:
what is measured is the web process taking in the upload (parsing the request, unpacking, reading
every header, storing the files and rows). Its peak RSS (VmHWM), and how much it grew from the
RSS it had after serving a first small request, are printed. Issue 4's target: under 200 MB.
Linux only (reads /proc).
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import numpy as np  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

import phantom  # noqa: E402
from archive_form import archive_form  # noqa: E402

USER = "bench"
DISTINCT_SLICES = 16
"""Pixel contents generated; the archive's files repeat them under headers of their own."""
TARGET_MB = 200.0


def write_archive(path: Path, size_mb: int) -> int:
    """A zip of one series of CT slices, about size_mb MB, stored without compression; returns its files."""
    grid = phantom.pixel_grid_mm()
    slices = max(1, size_mb * 2**20 // (phantom.ROWS * phantom.COLUMNS * 2))
    pixels = [
        np.clip(np.rint(phantom.phantom_slice_hu(grid, k / DISTINCT_SLICES, np.random.default_rng(k)) + 1024), 0, 4095)
        .astype(np.uint16)
        .tobytes()
        for k in range(DISTINCT_SLICES)
    ]
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for index in range(slices):
            ds = phantom.slice_dataset(index, slices, study_uid, series_uid, frame_uid)
            ds.PixelData = pixels[index % DISTINCT_SLICES]
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            archive.writestr(f"series/IM{index + 1:05d}.dcm", buffer.getvalue())
    return slices


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise SystemExit(f"no {field} for process {pid}")


def worker_pid(master: int) -> int:
    """The gunicorn worker: the one child of the master process."""
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("gunicorn started no worker")


def request(port: int, key: str, method: str, path: str, body=None, headers=None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
    connection.request(method, path, body=body, headers={"Authorization": f"Bearer {key}", **(headers or {})})
    response = connection.getresponse()
    return response.status, response.read()


def post_archive(port: int, key: str, archive: Path) -> tuple[int, bytes]:
    """POST the archive as the `files` field of a multipart form, read from disk a megabyte at a time."""
    body, headers = archive_form(archive)
    return request(port, key, "POST", "/api/measurements/", body=body, headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the archive")
    parser.add_argument("--keep", action="store_true", help="keep the archive in bench/out/ for the next run")
    args = parser.parse_args()

    out = BENCH / "out"
    out.mkdir(parents=True, exist_ok=True)
    archive = out / f"upload-{args.size_mb}mb.zip"
    t0 = time.perf_counter()
    if not archive.exists():
        files = write_archive(archive, args.size_mb)
        print(f"archive   {archive} ({archive.stat().st_size / 2**20:.0f} MiB, {files} files) written in {time.perf_counter() - t0:.0f} s")
    else:
        print(f"archive   {archive} ({archive.stat().st_size / 2**20:.0f} MiB), from an earlier run")

    var = Path(tempfile.mkdtemp(prefix="upload-bench-", dir=out))
    env = {
        **os.environ,
        "VOLUMES_VAR_DIR": str(var),
        "DJANGO_SECRET_KEY": "upload-memory-benchmark",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    python = sys.executable
    gunicorn = None
    try:
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        create = (
            "from django.contrib.auth import get_user_model; from volumes import services; "
            f"print(services.token_create(user=get_user_model().objects.create_user({USER!r}), name='bench')[1])"
        )
        made = subprocess.run([python, "manage.py", "shell", "-v", "0", "-c", create], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        key = made.stdout.strip().splitlines()[-1]
        port = free_port()
        gunicorn = subprocess.Popen(
            [str(Path(python).parent / "gunicorn"), "dicomsite.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--threads", "1", "--timeout", "1800", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        worker = worker_pid(gunicorn.pid)
        for _ in range(100):
            try:
                status, _ = request(port, key, "GET", "/api/measurements/")
                break
            except ConnectionError:
                time.sleep(0.1)
        if status != 200:
            raise SystemExit(f"the site answered {status} to a first request")
        idle_kb = status_kb(worker, "VmRSS")
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM starts again from here
        t0 = time.perf_counter()
        status, body = post_archive(port, key, archive)
        seconds = time.perf_counter() - t0
        peak_kb = status_kb(worker, "VmHWM")
        if status != 202:
            raise SystemExit(f"the upload was answered {status}: {body[:500]!r}")
        answer = json.loads(body)
        instances = sum(1 for _ in (var / "media" / "instances").rglob("*.dcm"))
        print(f"upload    {archive.stat().st_size / 2**20:.0f} MiB answered 202 in {seconds:.1f} s: "
              f"{len(answer['measurements'])} measurement(s) queued, {instances} files stored, {len(answer['skipped'])} skipped")
        print(f"web process RSS: {idle_kb / 1024:.0f} MB after a first request, peak {peak_kb / 1024:.0f} MB during the upload "
              f"(+{(peak_kb - idle_kb) / 1024:.0f} MB); target < {TARGET_MB:g} MB: "
              f"{'meets' if peak_kb / 1024 < TARGET_MB else 'MISSES'}")
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)
        shutil.rmtree(var, ignore_errors=True)
        if not args.keep:
            archive.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
