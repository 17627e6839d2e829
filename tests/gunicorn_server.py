"""The app served by gunicorn in a process of its own, as `make run` serves it (gunicorn.conf.py), on a
database of the test's: SQLite in a folder of the test's own, or a scratch PostgreSQL database when the
suite runs on PostgreSQL (DATABASE_URL)."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from .conftest import own_sqlite_environment
from .postgres import scratch_database

ROOT = Path(__file__).resolve().parents[1]


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
def database_environment(tmp_path, **settings: str):
    """The environment of a server and its commands: the test's own folder and database, `settings` added."""
    env = {**own_sqlite_environment(), "VOLUMES_VAR_DIR": str(tmp_path / "var"), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
           **settings}
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


def token_for_new_user(env: dict, username: str) -> str:
    """An API key of a new account `username` (made with the app's own service)."""
    return manage(env, "shell", "-c", (
        "from django.contrib.auth import get_user_model; from volumes import services; "
        f"print(services.token_create(user=get_user_model().objects.create_user({username!r}), name='t')[1])"
    )).strip().splitlines()[-1]
