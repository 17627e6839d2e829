"""Load: users uploading at once while others read pages and API details, against the real server.

    .venv/bin/python bench/load.py [--database sqlite|postgres] [--users 20] [--readers 4]
                                   [--seconds 60] [--port 8500]

Starts the site as `make run` does (gunicorn with gunicorn.conf.py, and one `measure_worker`) on a
fresh database and media folder, then for `--seconds`: each of `--users` users uploads, one after the
other, a copy of the seed slice under new UIDs (a new series each time), while `--readers` of them,
signed in in a browser too, read their measurement pages, history page and API details. Prints
throughput, latency percentiles and errors; then waits (bounded) for the queue to drain and checks
that every upload was measured exactly once, with the seed's 50,080 voxels and 143,280.029 mm³.
Target: no error, page p95 < 200 ms. With `--database postgres` the site gets DATABASE_URL (a fresh database named
e11_load_<pid>, dropped afterwards), which needs settings that read it and psycopg installed.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SEED_FILE = Path(os.environ.get("VOLUMES_SHARED_DATA", ROOT.parent.parent / "shared" / "data")) / "seed-challenge" / "1-101.dcm"
if not SEED_FILE.exists():
    SEED_FILE = Path("/work/shared/data/seed-challenge/1-101.dcm")
SEED_VOXELS = 50_080
SEED_VOLUME_MM3 = 143_280.029296875
PASSWORD = "load-password-1"
DRAIN_SECONDS = 300
PAGE_P95_TARGET_MS = 200


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.measurement_ids: dict[str, list[int]] = defaultdict(list)

    def record(self, kind: str, started: float, status: int, expected: int) -> None:
        with self.lock:
            self.latency_ms[kind].append((time.perf_counter() - started) * 1000)
            if status != expected:
                self.errors[f"{kind} {status}"] += 1


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=120)


UID_ROOT = "1.2.826.0.1.3680043.8.498.1"  # pydicom's root; + 35 digits = 62 characters, an even length


class SeedCopies:
    """The seed slice as a new series each time: new study, series and SOP instance UIDs, the same
    pixels. The file is written once with placeholder UIDs of a fixed length, which each copy
    replaces in the bytes, so that the clients (remote in real life) spend next to no CPU here."""

    def __init__(self) -> None:
        import pydicom

        ds = pydicom.dcmread(SEED_FILE)
        self.placeholders = [f"{UID_ROOT}{n:035d}".encode() for n in (1, 2, 3)]
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (p.decode() for p in self.placeholders)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        self.template = buffer.getvalue()

    def new(self) -> bytes:
        data = self.template
        for placeholder in self.placeholders:
            data = data.replace(placeholder, f"{UID_ROOT}{random.randrange(10**34, 10**35):035d}".encode())
        return data


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="slice.dcm"\r\n'
        "Content-Type: application/dicom\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, boundary


def uploader(port: int, user: str, cookies: str, stats: Stats, stop: threading.Event, uploads: list[int], seeds: SeedCopies) -> None:
    """Uploads through the API signed in by session, as the page's script does."""
    csrf = re.search(r"csrftoken=([^;]+)", cookies).group(1)
    connection = connect(port)
    while not stop.is_set():
        body, boundary = multipart(seeds.new())
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/measurements/", body=body, headers={
                "Cookie": cookies, "X-CSRFToken": csrf, "Content-Type": f"multipart/form-data; boundary={boundary}",
            })
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            stats.record("upload", started, type(error).__name__, 202)
            connection = connect(port)
            continue
        stats.record("upload", started, response.status, 202)
        if response.status == 202:
            with stats.lock:
                uploads.append(json.loads(answer)["upload"])
                stats.measurement_ids[user].extend(m["id"] for m in json.loads(answer)["measurements"])


def signed_in_cookies(port: int, user: str) -> str:
    connection = connect(port)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    page = response.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie", "")).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = f"username={user}&password={PASSWORD}&csrfmiddlewaretoken={token}"
    connection.request("POST", "/accounts/login/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}",
        "Referer": f"http://127.0.0.1:{port}/accounts/login/",
    })
    response = connection.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie", ""))
    if response.status != 302 or not session:
        raise SystemExit(f"{user} could not sign in ({response.status})")
    return f"csrftoken={csrf}; sessionid={session.group(1)}"


def reader(port: int, user: str, cookies: str, stats: Stats, stop: threading.Event) -> None:
    """An uploader, signed in in a browser too, reading its measurements' pages and API details, and its history."""
    connection = connect(port)
    rng = random.Random(user)
    while not stop.is_set():
        with stats.lock:
            ids = list(stats.measurement_ids[user][-200:])
        kind, path = rng.choice([("history page", "/measurements/"), ("page", None), ("api detail", None)])
        if path is None:
            if not ids:
                time.sleep(0.05)
                continue
            pk = rng.choice(ids)
            path = f"/measurements/{pk}/" if kind == "page" else f"/api/measurements/{pk}/"
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers={"Cookie": cookies})
            response = connection.getresponse()
            response.read()
            stats.record(kind, started, response.status, 200)
        except (OSError, http.client.HTTPException) as error:
            stats.record(kind, started, type(error).__name__, 200)
            connection = connect(port)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


CHECK = """
import json
from collections import Counter
from volumes.models import Measurement, Upload
uploads = Upload.objects.count()
rows = list(Measurement.objects.values_list("upload_id", "state", "voxels_above", "volume_mm3", "attempts"))
per_upload = Counter(upload for upload, *_ in rows)
print(json.dumps({
    "uploads": uploads, "measurements": len(rows),
    "uploads_with_other_than_one": sum(1 for n in per_upload.values() if n != 1) + (uploads - len(per_upload)),
    "unfinished": sum(1 for _, state, *_ in rows if state in ("queued", "running")),
    "failed": sum(1 for _, state, *_ in rows if state == "failed"),
    "wrong": sum(1 for _, state, voxels, volume, _ in rows if state == "done" and (voxels != %d or abs(volume - %r) > 1e-6)),
    "attempts_over_one": sum(1 for *_, attempts in rows if attempts != 1),
}))
""" % (SEED_VOXELS, SEED_VOLUME_MM3)


def manage(env: dict, *args: str, capture: bool = False) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=capture, text=True)
    return done.stdout if capture else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--users", type=int, default=20, help="users uploading at once")
    parser.add_argument("--readers", type=int, default=4, help="browser sessions of uploaders reading pages and API details")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--port", type=int, default=8500)
    args = parser.parse_args()

    out = BENCH / "out"
    out.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="load-", dir=out))
    env = {**os.environ, "VOLUMES_VAR_DIR": str(var), "DJANGO_SECRET_KEY": "load-benchmark", "DJANGO_LOG_LEVEL": "WARNING",
           # The API's limits are not what this measures: the users would come from as many addresses (here
           # they share 127.0.0.1), and the readers read as fast as the server answers, far faster than a
           # person (30 requests a second each), so either limit would answer 429.
           "VOLUMES_API_RATE_ADDRESS": "1000000/minute", "VOLUMES_API_RATE_USER": "1000000/minute",
           "VOLUMES_FILE_RATE_ADDRESS": "1000000/minute", "VOLUMES_FILE_RATE_USER": "1000000/minute"}
    database = None
    if args.database == "postgres":
        database = f"e11_load_{os.getpid()}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {database}"], check=True, capture_output=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    processes: list[subprocess.Popen] = []
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        vendor = manage(env, "shell", "-v", "0", "-c", "from django.db import connection; print(connection.vendor)", capture=True).strip()
        wanted = "postgresql" if args.database == "postgres" else "sqlite"
        if vendor != wanted:
            raise SystemExit(f"the settings give a {vendor} database, not {wanted}: they do not read DATABASE_URL")
        names = [f"up{i}" for i in range(args.users)]
        create = (
            "from django.contrib.auth import get_user_model\n"
            f"for name in {names!r}: get_user_model().objects.create_user(name, password={PASSWORD!r})"
        )
        manage(env, "shell", "-v", "0", "-c", create)
        python_bin = Path(sys.executable).parent
        try:
            connect(args.port).request("GET", "/")
            raise SystemExit(f"something already answers on port {args.port}: stop it or pass --port")
        except OSError:
            pass
        worker_log = open(var / "worker.log", "w")
        processes.append(subprocess.Popen(
            [sys.executable, "manage.py", "measure_worker", "--no-reload", "--interval", "0.2"], cwd=ROOT, env=env,
            stdout=worker_log, stderr=subprocess.STDOUT,
        ))
        # As `make run` starts it: gunicorn.conf.py's settings; its access log to a file.
        processes.append(subprocess.Popen(
            [str(python_bin / "gunicorn"), "dicomsite.wsgi", "--bind", f"127.0.0.1:{args.port}"], cwd=ROOT, env=env,
            stdout=open(var / "web.log", "w"), stderr=subprocess.STDOUT,
        ))
        for _ in range(200):
            try:
                connection = connect(args.port)
                connection.request("GET", "/accounts/login/")
                connection.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)

        # Everyone signs in before the clock starts: a sign-in hashes the password (a third of a second of
        # CPU), which is not what this measures.
        stats, stop, uploads, seeds = Stats(), threading.Event(), [], SeedCopies()
        upload_sessions = [(f"up{i}", signed_in_cookies(args.port, f"up{i}")) for i in range(args.users)]
        read_sessions = [(f"up{i % args.users}", signed_in_cookies(args.port, f"up{i % args.users}")) for i in range(args.readers)]
        threads = [threading.Thread(target=uploader, args=(args.port, user, cookies, stats, stop, uploads, seeds))
                   for user, cookies in upload_sessions]
        threads += [threading.Thread(target=reader, args=(args.port, user, cookies, stats, stop)) for user, cookies in read_sessions]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        elapsed = time.perf_counter() - started

        print(f"date      {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.2f}")
        web = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        print(f"server    gunicorn {web['workers']} workers × {web['threads']} threads + 1 measure_worker, {vendor}, port {args.port}")
        print(f"load      {args.users} users uploading, {args.readers} reading, {elapsed:.0f} s")
        print(f"{'request':14} {'count':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for kind, values in sorted(stats.latency_ms.items()):
            print(f"{kind:14} {len(values):6d} {len(values) / elapsed:7.1f} {percentile(values, 50):8.0f} "
                  f"{percentile(values, 95):8.0f} {percentile(values, 99):8.0f} {max(values):8.0f}")
        print(f"errors    {sum(stats.errors.values())}" + (f": {dict(stats.errors)}" if stats.errors else ""))

        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            check = json.loads(manage(env, "shell", "-v", "0", "-c", CHECK, capture=True))
            if not check["unfinished"] or time.monotonic() > deadline:
                break
            time.sleep(1)
        drained = time.monotonic() - (deadline - DRAIN_SECONDS)
        print(f"queue     drained {drained:.0f} s after the load stopped" if not check["unfinished"] else "queue     NOT drained")
        print(f"check     {check['uploads']} uploads answered 202 and stored ({len(uploads)} seen by the clients), "
              f"{check['measurements']} measurements; not exactly one measurement: {check['uploads_with_other_than_one']}; "
              f"unfinished {check['unfinished']}, failed {check['failed']}, wrong volume {check['wrong']}, "
              f"started more than once {check['attempts_over_one']}")
        page_values = stats.latency_ms.get("page", []) + stats.latency_ms.get("history page", [])
        page_p95 = percentile(page_values, 95) if page_values else float("nan")
        ok = (
            not stats.errors and check["uploads"] == len(uploads) and not check["uploads_with_other_than_one"]
            and not check["unfinished"] and not check["failed"] and not check["wrong"] and page_p95 < PAGE_P95_TARGET_MS
        )
        print(f"target    no error, every upload measured once and right, page p95 < {PAGE_P95_TARGET_MS} ms "
              f"({page_p95:.0f} ms): {'meets' if ok else 'MISSES'}")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(var, ignore_errors=True)
        if database:
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {database}"], capture_output=True)


if __name__ == "__main__":
    main()
