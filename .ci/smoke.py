"""Smoke test of a deployment as docker-compose.yml runs it, without Docker (CI has none).

On a PostgreSQL database of its own it runs, exactly as docker-compose.yml writes them, the `migrate`
command, the `web` command (gunicorn) and the `worker` command twice; then signs in through the
login page (session and CSRF token, as a browser does), uploads the challenge file over HTTP, and
polls its measurement until it is done with the right volume. Exit status 0 when all of that held.

    .venv/bin/python .ci/smoke.py   (PostgreSQL: $VOLUMES_TEST_POSTGRES_URL, default postgres@127.0.0.1:5432)

With --media s3 the media go to an S3 API (moto's server, started on a free local port) and every
process gets a data folder of its own, as on separate hosts: the workers can read the upload only
through the object store. With --against URL it starts nothing: it signs in to a running site and measures there (what
bench/compose_check.sh does against `docker compose up`).
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVER_URL = os.environ.get("VOLUMES_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DATABASE_PREFIX = os.environ.get("VOLUMES_TEST_DATABASE_PREFIX", "volumes_test_")
SHARED_DATA = [os.environ.get("VOLUMES_SHARED_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
SEED_FILE = next(p for p in (Path(d) / "seed-challenge" / "1-101.dcm" for d in SHARED_DATA if d) if p.is_file())
EXPECTED_VOLUME_MM3 = 143_280.029
EXPECTED_VOXELS = 50_080
WORKERS = 2


def compose_commands(path: Path = COMPOSE_FILE) -> dict[str, list[str]]:
    """The command of each service of docker-compose.yml that runs the app's code."""
    services = yaml.safe_load(path.read_text())["services"]
    return {name: list(services[name]["command"]) for name in ("migrate", "web", "worker")}


def launch_plan(commands: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """What the smoke test starts, in order: the migration (waited for), the web server, the workers."""
    return [("migrate", commands["migrate"]), ("web", commands["web"]),
            *((f"worker-{n}", commands["worker"]) for n in range(1, WORKERS + 1))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what: str, check, timeout_s: float, processes=()):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in processes:
            if process.poll() is not None:
                raise SystemExit(f"smoke: {name} stopped (status {process.returncode}) while waiting for {what}")
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise SystemExit(f"smoke: timed out after {timeout_s:.0f} s waiting for {what}")


def sign_in(session: requests.Session, base: str, username: str, password: str) -> None:
    page = session.get(f"{base}/accounts/login/", timeout=30)
    page.raise_for_status()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{base}/accounts/login/", timeout=30, allow_redirects=False,
                          data={"username": username, "password": password, "csrfmiddlewaretoken": token},
                          headers={"Referer": f"{base}/accounts/login/"})
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise SystemExit(f"smoke: sign-in failed: {answer.status_code}")


def upload_and_measure(session: requests.Session, base: str) -> dict:
    with open(SEED_FILE, "rb") as seed:
        answer = session.post(f"{base}/api/measurements/", files={"files": (SEED_FILE.name, seed)},
                              data={"threshold": "0.5"}, timeout=120,
                              headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/"})
    if answer.status_code != 202:
        raise SystemExit(f"smoke: upload answered {answer.status_code}: {answer.text[:500]}")
    (measurement,) = answer.json()["measurements"]

    def finished():
        detail = session.get(f"{base}/api/measurements/{measurement['id']}/", timeout=30).json()
        return detail if detail["state"] in ("done", "failed") else None

    detail = wait_until("the measurement", finished, 120)
    if detail["state"] != "done":
        raise SystemExit(f"smoke: the measurement failed: {detail.get('error_message')}")
    return detail


def measure_on(base: str, username: str, password: str) -> float:
    """Sign in, upload the challenge file, poll its measurement; the volume, checked with its voxels."""
    session = requests.Session()
    sign_in(session, base, username, password)
    detail = upload_and_measure(session, base)
    if round(detail["volume_mm3"], 3) != EXPECTED_VOLUME_MM3 or detail["voxels_above"] != EXPECTED_VOXELS:
        raise SystemExit(f"smoke: {detail['volume_mm3']} mm³ ({detail['voxels_above']} voxels), "
                         f"expected {EXPECTED_VOLUME_MM3} mm³ ({EXPECTED_VOXELS} voxels)")
    return detail["volume_mm3"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--against", metavar="URL", help="a running site: only sign in and measure there")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default=os.environ.get("VOLUMES_ADMIN_PASSWORD"))
    parser.add_argument("--media", choices=("filesystem", "s3"), default="filesystem")
    arguments = parser.parse_args()
    if arguments.against:
        volume_mm3 = measure_on(arguments.against.rstrip("/"), arguments.username, arguments.password)
        print(f"smoke: {arguments.against}: signed in, uploaded {SEED_FILE.name}, measured {volume_mm3:,.3f} mm³ ({EXPECTED_VOXELS:,} voxels)")
        return 0
    plan = launch_plan(compose_commands())
    port = int(os.environ.get("SMOKE_PORT") or free_port())
    base = f"http://127.0.0.1:{port}"
    password = secrets.token_urlsafe(16)
    database = f"{DATABASE_PREFIX}smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{database}"')
    processes: list[tuple[str, subprocess.Popen]] = []
    with tempfile.TemporaryDirectory(prefix="smoke-") as workdir:
        if arguments.media == "s3":
            processes.append(("s3", start_object_store(processes)))
        env = {**os.environ,
               "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
               "VOLUMES_PRODUCTION": "1", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
               "DATABASE_URL": SERVER_URL.rsplit("/", 1)[0] + "/" + database,
               "VOLUMES_VAR_DIR": workdir, "PORT": str(port),
               "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_CSRF_TRUSTED_ORIGINS": base,
               "VOLUMES_SITE_URL": f"{base}/", "VOLUMES_ADMIN_USERNAME": "admin", "VOLUMES_ADMIN_PASSWORD": password,
               "VOLUMES_DECODE_PROCESSES": "1"}
        try:
            for name, command in plan:
                print(f"smoke: {name}: {shlex.join(command)}", flush=True)
                if name == "migrate":
                    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=300)
                    continue
                own = {**env, "VOLUMES_VAR_DIR": str(Path(workdir) / name)} if arguments.media == "s3" else env
                processes.append((name, subprocess.Popen(command, cwd=ROOT, env=own, start_new_session=True)))
            wait_until("GET /healthz to answer 200", lambda: healthy(base), 120, processes)
            volume_mm3 = measure_on(base, "admin", password)
            static = requests.get(f"{base}/static/volumes/style.css", timeout=30)
            if static.status_code != 200:
                raise SystemExit(f"smoke: the style sheet answered {static.status_code}")
            health = requests.get(f"{base}/healthz", timeout=30).json()
            where = health["storage"]["backend"]
            if arguments.media == "s3":
                where += f" ({stored_object_folders()} in the bucket; no local media: {not local_media(workdir)})"
                if local_media(workdir):
                    raise SystemExit(f"smoke: media written to local folders: {local_media(workdir)}")
            print(f"smoke: passed: signed in, uploaded {SEED_FILE.name}, measured {volume_mm3:,.3f} mm³ ({EXPECTED_VOXELS:,} voxels); "
                  f"media on {where}; queue afterwards {health['queue']}", flush=True)
        finally:
            for _, process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for _, process in processes:
                process.wait(timeout=30)
            with psycopg.connect(SERVER_URL, autocommit=True) as server:
                server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return 0


S3_BUCKET = "volumes-smoke"
S3_VARIABLES = {"VOLUMES_MEDIA_STORAGE": "s3", "VOLUMES_S3_BUCKET": S3_BUCKET,
                "AWS_ACCESS_KEY_ID": "smoke", "AWS_SECRET_ACCESS_KEY": "smoke-secret"}


def start_object_store(processes) -> subprocess.Popen:
    """moto's S3 server on a free local port, with the bucket; sets the app's S3 variables."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_until("the S3 server", lambda: answers(endpoint), 60, [("s3", server)])
    os.environ.update(S3_VARIABLES, VOLUMES_S3_ENDPOINT_URL=endpoint)
    s3_client().create_bucket(Bucket=S3_BUCKET)
    print(f"smoke: s3: moto_server at {endpoint}, bucket {S3_BUCKET}", flush=True)
    return server


def s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["VOLUMES_S3_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=S3_VARIABLES["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_VARIABLES["AWS_SECRET_ACCESS_KEY"])


def stored_object_folders() -> str:
    keys = [item["Key"] for item in s3_client().list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])]
    folders = sorted({key.split("/")[0] for key in keys})
    if folders != ["histograms", "instances", "thumbnails"]:
        raise SystemExit(f"smoke: the bucket holds {keys}")
    return f"{len(keys)} objects under {', '.join(f + '/' for f in folders)}"


def local_media(workdir: str) -> list[str]:
    return [str(path) for path in Path(workdir).glob("*/media/**/*") if path.is_file()]


def answers(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.ConnectionError:
        return False
    return True


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=30).status_code == 200
    except (requests.ConnectionError, requests.Timeout):  # still starting: the first request loads the app
        return False


if __name__ == "__main__":
    sys.exit(main())
