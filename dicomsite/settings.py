"""Settings for the volumetry site, read from the environment (django-environ).

Every setting a deployment changes is an environment variable (README lists them with their defaults);
the defaults give the embedded set-up of `make run`: SQLite, private files under `var/media`, a task
queue in the database. `VOLUMES_PRODUCTION=1` (docker-compose.yml sets it) marks a deployment: it
refuses to start without an explicit secret key or with debug on.
"""
import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured



class Env(environ.Env):
    """django-environ, naming the variable whose value cannot be read (its own message does not)."""

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as error:
            kind = getattr(cast, "__name__", "the expected type")
            raise ImproperlyConfigured(f"{var}={os.environ.get(var)!r} is not a valid {kind} ({error})") from None


BASE_DIR = Path(__file__).resolve().parent.parent
env = Env()
VAR_DIR = Path(env.str("VOLUMES_VAR_DIR", default=str(BASE_DIR / "var")))


def local_secret_key() -> str:
    """A key kept in VAR_DIR, so that a local run needs no set-up and sessions survive restarts."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


PRODUCTION = env.bool("VOLUMES_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if PRODUCTION and not env.str("DJANGO_SECRET_KEY", default="").strip():
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set, and VOLUMES_PRODUCTION=1 refuses to start without one (a generated key "
        "would differ between containers and hosts). Set it in .env, for example to the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG=1 with VOLUMES_PRODUCTION=1: debug pages would show settings and data; unset one.")
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="").strip() or local_secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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
    # GET /healthz, answered before host validation and redirects (see volumes/health.py).
    "volumes.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the web process, compressed and cached, before anything else runs.
    "whitenoise.middleware.WhiteNoiseMiddleware",
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

# --- database -------------------------------------------------------------------------------------
# DATABASE_URL, e.g. postgres://user:password@db:5432/volumes (psycopg 3); else SQLite in VAR_DIR.
SQLITE_PATH = Path(env.str("VOLUMES_SQLITE_PATH", default=str(VAR_DIR / "db.sqlite3")))
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # The web process and the worker write to the same file: wait for each other, and take
        # the write lock at the start of a transaction rather than failing half-way.
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
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
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- static files and media -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# WhiteNoise serves STATIC_ROOT (collectstatic, as the image does) and, without it, the app's folders.
WHITENOISE_USE_FINDERS = True

# Uploaded DICOM files and derived pictures. Private: never under STATIC_ROOT, never given a
# MEDIA_URL; they reach a browser only through views that check the owner. The code reaches them
# only through the storage API, so that `s3` (django-storages) serves workers on several hosts.
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_STORAGE = env.str("VOLUMES_MEDIA_STORAGE", default="filesystem")
if MEDIA_STORAGE == "filesystem":
    MEDIA_STORAGE_BACKEND = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif MEDIA_STORAGE == "s3":
    # Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, read by boto3 from the environment.
    S3_ENDPOINT_URL = env.str("VOLUMES_S3_ENDPOINT_URL", default="") or None
    MEDIA_STORAGE_BACKEND = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("VOLUMES_S3_BUCKET", default="volumes"),
            "endpoint_url": S3_ENDPOINT_URL,
            "region_name": env.str("VOLUMES_S3_REGION", default="us-east-1"),
            # A self-hosted store (MinIO, ...) is reached by path, not by a bucket sub-domain.
            "addressing_style": "path" if S3_ENDPOINT_URL else None,
            "default_acl": "private",
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"VOLUMES_MEDIA_STORAGE={MEDIA_STORAGE!r}: use 'filesystem' or 's3'.")
STORAGES = {
    "default": MEDIA_STORAGE_BACKEND,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads above this size are streamed to a temporary file instead of being held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env.str("DJANGO_FILE_UPLOAD_TEMP_DIR", default="") or None
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("VOLUMES_MAX_UPLOAD_FILES", default=5000)

# --- the queue and the workers --------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": env.str("VOLUMES_TASK_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}
# Processes that decode pixel data in parallel while measuring one series (0: one per core).
VOLUMES_DECODE_PROCESSES = env.int("VOLUMES_DECODE_PROCESSES", default=0)

# --- the measurement and the site -----------------------------------------------------------------
VOLUMES_THRESHOLD = env.float("VOLUMES_THRESHOLD", default=0.5)
VOLUMES_ALLOW_SIGNUP = env.bool("VOLUMES_ALLOW_SIGNUP", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
