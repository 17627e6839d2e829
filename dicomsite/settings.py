"""Settings for the volumetry site, read from the environment.

Every setting a deployment changes is an environment variable (README lists them); the defaults give
the embedded set-up of `make run`: SQLite, private files under `var/media`, a database task queue.
"""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VOLUMES_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def local_secret_key() -> str:
    """A key kept in VAR_DIR, so that a local run needs no set-up and sessions survive restarts."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "volumes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dicomsite.urls"
WSGI_APPLICATION = "dicomsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "volumes.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("VOLUMES_SQLITE_PATH", VAR_DIR / "db.sqlite3"),
        "OPTIONS": {
            # The web process and the worker write to the same file: wait for each other, and take
            # the write lock at the start of a transaction rather than failing half-way.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "volumes:upload"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
# No front proxy in the embedded set-up: Django serves the few static files itself.
SERVE_STATIC = env_bool("DJANGO_SERVE_STATIC", True)

# Uploaded DICOM files and derived pictures. Private: never under STATIC_ROOT, never given a
# MEDIA_URL; they reach a browser only through views that check the owner.
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_NUMBER_FILES = int(os.environ.get("VOLUMES_MAX_UPLOAD_FILES", "5000"))

TASKS = {
    "default": {
        "BACKEND": os.environ.get("VOLUMES_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# The measurement defaults.
VOLUMES_THRESHOLD = float(os.environ.get("VOLUMES_THRESHOLD", "0.5"))
# Processes that decode pixel data in parallel while measuring one series (0: one per core).
VOLUMES_DECODE_PROCESSES = int(os.environ.get("VOLUMES_DECODE_PROCESSES", "0"))
VOLUMES_ALLOW_SIGNUP = env_bool("VOLUMES_ALLOW_SIGNUP", True)

# Integrity (issue 11): every uploaded file is streamed into a staging folder beside the media files
# (hashed as it arrives, refused whole when the body was cut), then moved into place once its rows commit.
FILE_UPLOAD_HANDLERS = ["volumes.upload_handlers.StagingUploadHandler"]
VOLUMES_STAGING_DIR = os.environ.get("VOLUMES_STAGING_DIR") or None  # default: $DJANGO_MEDIA_ROOT/staging
# A running measurement whose worker is gone is queued again (up to ATTEMPTS starts), then failed; a worker
# on another host counts as gone after TIMEOUT seconds. Workers look every SWEEP seconds.
VOLUMES_MEASUREMENT_TIMEOUT = float(os.environ.get("VOLUMES_MEASUREMENT_TIMEOUT", "900"))
VOLUMES_MEASUREMENT_ATTEMPTS = int(os.environ.get("VOLUMES_MEASUREMENT_ATTEMPTS", "2"))
# The archive budget of one upload (README: "Archives"): each limit is named in the message that refuses.
VOLUMES_ARCHIVE_MAX_BYTES = int(os.environ.get("VOLUMES_ARCHIVE_MAX_BYTES", str(4 * 1024**3)))
VOLUMES_ARCHIVE_MAX_RATIO = float(os.environ.get("VOLUMES_ARCHIVE_MAX_RATIO", "200"))
VOLUMES_ARCHIVE_MAX_ENTRIES = int(os.environ.get("VOLUMES_ARCHIVE_MAX_ENTRIES", "10000"))
VOLUMES_ARCHIVE_MAX_DEPTH = int(os.environ.get("VOLUMES_ARCHIVE_MAX_DEPTH", "3"))
VOLUMES_DISK_RESERVE_BYTES = int(os.environ.get("VOLUMES_DISK_RESERVE_BYTES", str(512 * 1024**2)))
VOLUMES_WORKER_SWEEP_SECONDS = float(os.environ.get("VOLUMES_WORKER_SWEEP_SECONDS", "30"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
