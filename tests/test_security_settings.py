"""Production settings from the environment: CSP without inline code, HTTPS settings (check --deploy
clean), mail from EMAIL_URL (no password reset without it), files and the database private."""
import json
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from volumes.models import Measurement

from .conftest import SEED_FILE, own_sqlite_environment

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "volumes.example.org",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_BEHIND_TLS_PROXY": "1",
}
INLINE_CODE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
]


def run_manage(*args: str, env: dict, var_dir: Path) -> subprocess.CompletedProcess:
    environment = {**own_sqlite_environment(), **env, "VOLUMES_VAR_DIR": str(var_dir)}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def settings_in_a_new_process(env: dict, var_dir: Path, *names: str) -> dict:
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: str(getattr(settings, n, None)) for n in {list(names)!r}}}))"
    )
    environment = {**own_sqlite_environment(), **env, "VOLUMES_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "dicomsite.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_in_the_production_configuration(tmp_path):
    done = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, var_dir=tmp_path / "var")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_names_what_the_default_local_configuration_lacks(tmp_path):
    done = run_manage("check", "--deploy", env={"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}, var_dir=tmp_path / "var")
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= set(re.findall(r"security\.W\d+", done.stdout + done.stderr))


def test_the_https_settings_come_from_the_environment(tmp_path):
    values = settings_in_a_new_process(
        PRODUCTION_ENV, tmp_path / "var", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
    )
    assert values == {
        "SECURE_SSL_REDIRECT": "True", "SECURE_HSTS_SECONDS": "31536000", "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "True", "SECURE_PROXY_SSL_HEADER": "('HTTP_X_FORWARDED_PROTO', 'https')",
    }


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_unsafe_inline(client):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    for url in (reverse("volumes:upload"), reverse("volumes:measurement-list"), reverse("volumes:account"), reverse("volumes:api-docs")):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        page = response.content.decode()
        for pattern, what in INLINE_CODE:
            assert not pattern.search(page), f"{url} has {what}, which the policy blocks"


def test_no_template_has_inline_script_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for pattern, what in INLINE_CODE:
            assert not pattern.search(text), f"{template.relative_to(ROOT)} has {what}"


@pytest.mark.django_db
def test_the_api_documentation_is_served_from_our_own_static_files(client):
    page = client.get(reverse("volumes:api-docs")).content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from another host
    assert any("swagger-ui-bundle.js" in s for s in sources)
    for source in sources:
        assert client.get(source).status_code == 200, source
    schema = client.get(reverse("volumes:api-schema"), HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and "/api/measurements/" in schema.json()["paths"]


@pytest.mark.django_db
def test_without_mail_the_password_reset_is_neither_offered_nor_reachable(client, settings, caplog):
    settings.VOLUMES_MAIL_CONFIGURED = False
    assert reverse("password_reset") not in client.get(reverse("login")).content.decode()
    for name in ("password_reset", "password_reset_done", "password_reset_complete"):
        assert client.get(reverse(name)).status_code == 404
    confirm = reverse("password_reset_confirm", kwargs={"uidb64": "MQ", "token": "set-password"})
    assert client.get(confirm).status_code == 404
    assert client.post(confirm, {"new_password1": "x-long-secret-9", "new_password2": "x-long-secret-9"}).status_code == 404
    assert "password_reset" not in client.get(reverse("admin:login")).content.decode()
    assert client.post(reverse("password_reset"), {"email": "ada@example.org"}).status_code == 404
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.django_db
def test_with_mail_the_password_reset_is_offered_and_sends_the_link(client, settings):
    settings.VOLUMES_MAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    get_user_model().objects.create_user("ada", email="ada@example.org", password="a-long-secret-1")
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    response = client.post(reverse("password_reset"), {"email": "ada@example.org"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == ["ada@example.org"] and "/accounts/reset/" in message.body


def test_mail_settings_are_read_from_email_url(tmp_path):
    env = {"EMAIL_URL": "smtp+tls://robot:s3cret@mail.example.org:587", "DJANGO_DEFAULT_FROM_EMAIL": "volumes@example.org"}
    values = settings_in_a_new_process(
        env, tmp_path / "var", "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS", "DEFAULT_FROM_EMAIL", "VOLUMES_MAIL_CONFIGURED",
    )
    assert values == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "mail.example.org",
        "EMAIL_PORT": "587", "EMAIL_HOST_USER": "robot", "EMAIL_HOST_PASSWORD": "s3cret", "EMAIL_USE_TLS": "True",
        "DEFAULT_FROM_EMAIL": "volumes@example.org", "VOLUMES_MAIL_CONFIGURED": "True",
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


PRIVATE_RUN = """
import os, pathlib, json
os.umask(0o022)  # an ordinary shell's: what the site creates must be private all the same
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from volumes import services
from volumes.models import Measurement

call_command("migrate", "--noinput", verbosity=0)
user = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model().objects.create_user("ada")
_, key = services.token_create(user=user, name="modes")
client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
assert client.get("/healthz").status_code == 200
with open(os.environ["SEED_FILE"], "rb") as seed:
    assert client.post("/api/measurements/", {"files": [seed]}).status_code == 202
measurement = Measurement.objects.get()
assert client.get(f"/measurements/{measurement.pk}/slices/1.png?center=40&width=400").status_code == 200
with connection.cursor() as cursor:  # the database open, in WAL mode: its -wal and -shm files exist now
    cursor.execute("BEGIN IMMEDIATE")
    cursor.execute("UPDATE auth_user SET first_name = 'A'")
    var = pathlib.Path(settings.VAR_DIR)
    print(json.dumps({str(p.relative_to(var)): [p.is_dir(), p.stat().st_mode & 0o777] for p in var.rglob("*")}))
    cursor.execute("ROLLBACK")
"""


def test_everything_the_site_creates_is_private_even_under_an_open_umask(tmp_path):
    """Under umask 022, a migration, /healthz, an upload measured, a slice viewed and a write in
    progress: every folder under VOLUMES_VAR_DIR is 0700 and every file 0600 (the database, its -wal
    and -shm files, media, staging, caches, the secret key)."""
    var_dir = tmp_path / "var"
    environment = {**own_sqlite_environment(), "VOLUMES_VAR_DIR": str(var_dir), "SEED_FILE": str(SEED_FILE),
                   "DJANGO_SETTINGS_MODULE": "dicomsite.settings", "DJANGO_ALLOWED_HOSTS": "testserver",
                   "VOLUMES_TASK_BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    done = subprocess.run([sys.executable, "-c", PRIVATE_RUN], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    modes = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"secret_key", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "media/thumbnails", "cache/slices"} <= set(modes)
    assert any(name.startswith("media/instances/") and not is_dir for name, (is_dir, _) in modes.items())
    assert mode(var_dir) == 0o700
    public = {name: oct(bits) for name, (is_dir, bits) in modes.items() if bits != (0o700 if is_dir else 0o600)}
    assert public == {}


@pytest.mark.django_db
def test_stored_files_and_their_folders_are_private(client, private_media, django_capture_on_commit_callbacks):
    client.force_login(get_user_model().objects.create_user("ada", password="a-long-secret-1"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("volumes:upload"), {"files": [SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())]})
    measurement = Measurement.objects.get()
    stored = [measurement.series.instances.get().file.path, measurement.thumbnail.path, measurement.series.histogram.path]
    for path in map(Path, stored):
        assert mode(path) == 0o600, path
        for folder in path.relative_to(private_media).parents:
            assert mode(private_media / folder) == 0o700, folder
    assert django_settings.FILE_UPLOAD_PERMISSIONS == 0o600
