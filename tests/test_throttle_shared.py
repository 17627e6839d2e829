"""The API's limits hold across processes: two web servers (as on two hosts) on one database share the
throttle's counts and the sign-in lock-out, so that running more processes does not multiply the limit.

The database is the suite's: SQLite in a folder of the test's own, or a scratch PostgreSQL database
when the suite runs on PostgreSQL (DATABASE_URL).
"""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from .conftest import own_sqlite_environment
from .postgres import scratch_database

ROOT = Path(__file__).resolve().parents[1]
USER_RATE = 3
FAILURE_LIMIT = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def web_server(env: dict):
    """One gunicorn process (one worker) on a free port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "dicomsite.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()[-2000:]
            try:
                if requests.get(f"{base}/healthz", timeout=30).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextmanager
def database_environment(tmp_path):
    env = {**own_sqlite_environment(), "VOLUMES_VAR_DIR": str(tmp_path / "var"), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
           "VOLUMES_API_RATE_USER": f"{USER_RATE}/minute", "VOLUMES_API_RATE_ADDRESS": "1000/minute",
           "VOLUMES_SIGNIN_FAILURE_LIMIT": str(FAILURE_LIMIT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        with scratch_database() as url:
            yield {**env, "DATABASE_URL": url}
    else:
        yield env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_two_web_servers_share_the_rate_limit_and_the_lock_out(tmp_path):
    with ExitStack() as stack:
        env = stack.enter_context(database_environment(tmp_path))
        manage(env, "migrate", "--noinput", "-v", "0")  # creates the throttle's cache table too
        key = manage(env, "shell", "-c", (
            "from django.contrib.auth import get_user_model; from volumes import services; "
            "print(services.token_create(user=get_user_model().objects.create_user('ada'), name='t')[1])"
        )).strip().splitlines()[-1]
        first, second = (stack.enter_context(web_server(env)) for _ in range(2))
        good = {"Authorization": f"Bearer {key}"}

        answers = [requests.get(f"{first}/api/measurements/", headers=good, timeout=60) for _ in range(USER_RATE)]
        assert [a.status_code for a in answers] == [200] * USER_RATE
        refused = requests.get(f"{second}/api/measurements/", headers=good, timeout=60)
        assert refused.status_code == 429, "the second server counted on its own"
        assert refused.json()["error"].startswith("Too many requests") and int(refused.headers["Retry-After"]) > 0

        failures = [requests.get(f"{server}/api/measurements/", headers={"Authorization": f"Bearer guess-{n}"}, timeout=60)
                    for n, server in enumerate([first, first, second])]
        assert [f.status_code for f in failures] == [401, 401, 429]
        locked = requests.get(f"{first}/api/measurements/", headers=good, timeout=60)
        assert locked.status_code == 429
        assert locked.json() == {"error": "Too many failed sign-ins from here; try again later."}
