"""docker-compose.yml, the Dockerfile and the smoke test agree (CI runs no Docker; bench/compose_check.sh does)."""
import re
import runpy
import sys
from pathlib import Path

import pytest
import yaml

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker")


def load_smoke():
    return load_script(".ci/smoke.py")


def test_the_smoke_test_runs_exactly_the_commands_of_docker_compose():
    smoke = load_smoke()
    plan = smoke.launch_plan(smoke.compose_commands())
    assert plan == [
        ("migrate", SERVICES["migrate"]["command"]),
        ("web", SERVICES["web"]["command"]),
        ("worker-1", SERVICES["worker"]["command"]),
        ("worker-2", SERVICES["worker"]["command"]),
    ]
    assert SERVICES["web"]["command"][0] == "gunicorn" and "dicomsite.wsgi" in SERVICES["web"]["command"]
    assert SERVICES["worker"]["command"][:4] == ["python", "manage.py", "measure_worker", "--no-reload"]
    assert "manage.py migrate --noinput" in SERVICES["migrate"]["command"][-1]
    assert "manage.py ensure_account" in SERVICES["migrate"]["command"][-1]


def test_no_command_hides_its_output_or_waits_in_a_loop():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "/dev/null" not in text and "until " not in text


def test_one_image_built_once_for_every_app_service():
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    assert images == {"dicom-volumes:local"}
    assert [name for name, service in SERVICES.items() if "build" in service] == ["migrate"]


def test_every_service_restarts_except_the_one_shot_migration():
    assert SERVICES["migrate"]["restart"] == "no"
    assert all(SERVICES[name]["restart"] == "unless-stopped" for name in ("db", "web", "worker"))


def test_services_wait_for_a_healthy_database_and_a_finished_migration():
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }


def test_the_database_is_postgresql_on_a_named_volume_with_a_healthcheck():
    db = SERVICES["db"]
    assert db["image"].startswith("postgres:") and db["image"] != "postgres:latest"
    assert "pg_isready" in db["healthcheck"]["test"]
    assert db["volumes"] == ["database:/var/lib/postgresql/data"] and "database" in COMPOSE["volumes"]
    assert SERVICES["web"]["environment"]["DATABASE_URL"].startswith("postgres://volumes:")


def test_the_web_service_is_checked_on_healthz_and_published_on_a_configurable_port():
    web = SERVICES["web"]
    assert "http://127.0.0.1:8000/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["ports"] == ["${VOLUMES_WEB_PORT:-8000}:8000"]


def test_hosts_origins_and_the_secret_come_from_the_env_file():
    environment = SERVICES["web"]["environment"]
    assert environment["VOLUMES_PRODUCTION"] == "1"
    assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
    assert environment["DJANGO_ALLOWED_HOSTS"].startswith("${DJANGO_ALLOWED_HOSTS")
    assert environment["DJANGO_CSRF_TRUSTED_ORIGINS"].startswith("${DJANGO_CSRF_TRUSTED_ORIGINS")
    assert environment["VOLUMES_ADMIN_PASSWORD"] == "${VOLUMES_ADMIN_PASSWORD:-}"
    compose_text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE):
        assert "${" + name in compose_text, f"{name} in .env.example is not used by docker-compose.yml"


def test_the_image_runs_the_python_ci_tests_as_a_user_of_its_own():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:(\d+\.\d+)-slim$", dockerfile, re.MULTILINE).group(1) == "%d.%d" % sys.version_info[:2]
    assert re.search(r"^USER volumes$", dockerfile, re.MULTILINE)
    assert "chown volumes:volumes /data" in dockerfile
    assert re.findall(r"pip install .*", dockerfile) == ["pip install --no-cache-dir -r requirements.txt"]


@pytest.mark.parametrize("kept_out", ["tests", "bench", ".ci", "var", ".venv", ".env", "requirements-test.txt"])
def test_dockerignore_keeps_what_the_app_does_not_run_out_of_the_image(kept_out):
    assert kept_out in (ROOT / ".dockerignore").read_text().splitlines()


def test_the_database_accepts_the_connections_web_threads_and_workers_keep(monkeypatch):
    """Each gunicorn thread keeps its connection (CONN_MAX_AGE): WEB_CONCURRENCY × threads, plus two a
    worker (its queue, its recovery sweep), must stay under PostgreSQL's max_connections."""
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    gunicorn = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    web_processes = int(re.fullmatch(r"\$\{WEB_CONCURRENCY:-(\d+)\}", SERVICES["web"]["environment"]["WEB_CONCURRENCY"]).group(1))
    assert web_processes == gunicorn["workers"] == 2 and gunicorn["threads"] == 16
    command = " ".join(SERVICES["db"]["command"])
    max_connections = int(re.search(r"max_connections=\$\{POSTGRES_MAX_CONNECTIONS:-(\d+)\}", command).group(1))
    assert max_connections >= 2 * web_processes * gunicorn["threads"] + 2 * 30 + 10  # twice the web, 30 workers
    example = (ROOT / ".env.example").read_text()
    assert f"POSTGRES_MAX_CONNECTIONS={max_connections}\n" in example and f"WEB_CONCURRENCY={web_processes}\n" in example


def load_image_check():
    return load_script("bench/image_check.py")


def test_the_image_check_finds_runtime_packages_and_reports_test_tools_and_missing_pins():
    """bench/image_check.py, run here on the test virtualenv (which has the test tools the image must not)."""
    image_check = load_image_check()
    runtime = (ROOT / "requirements.txt").read_text()
    test_only = (ROOT / "requirements-test.txt").read_text()
    assert image_check.pins("psycopg[binary]==3.3.9  # x\nDjango==5.2.19\n-r other.txt\n") == {"psycopg": "3.3.9", "django": "5.2.19"}
    assert "gdcm" in image_check.top_level_modules("python-gdcm")
    checked, wrong = image_check.problems(runtime + "no-such-distribution==1.0\nnumpy==0.0.1\n", test_only)
    assert "python-gdcm==3.2.6" in checked and "django==5.2.19" in checked
    assert "runtime package no-such-distribution==1.0 is not installed" in wrong
    assert "runtime package numpy is 2.4.6, requirements.txt pins 0.0.1" in wrong
    assert {"test-only package pytest is installed", "test-only package selenium is installed"} <= set(wrong)
    assert not [problem for problem in wrong if "does not import" in problem], wrong
