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
# Everything the site's processes create (media, staging, caches, the SQLite database and its -wal,
# -shm and -journal files, temporary files of the libraries) is readable by their own account only:
# it holds patient data. Static files are the exception: their storage sets 0644/0755 explicitly.
os.umask(0o077)
VAR_DIR = Path(env.str("VOLUMES_VAR_DIR", default=str(BASE_DIR / "var")))


def local_secret_key() -> str:
    """A key kept in VAR_DIR, so that a local run needs no set-up and sessions survive restarts."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        private_folder(VAR_DIR)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def private_folder(path: Path) -> None:
    """Create `path`, and any missing parent, readable by this account only (0700): it holds patient data
    and the secret key."""
    if not path.exists():
        private_folder(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)


def private_file(path: Path) -> None:
    """Create an empty file readable by this account only (0600) if it is missing: SQLite then keeps
    the mode, and gives its -wal and -shm files the same one."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


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
IS_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
if IS_SQLITE:
    DATABASES["default"]["OPTIONS"] = {
        # The web process and the worker write to the same file: wait for each other, and take
        # the write lock at the start of a transaction rather than failing half-way.
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Each request thread keeps its connection: opening one costs a request CPU on SQLite, and a new server
# process on PostgreSQL (README, "Figures behind the code"). So PostgreSQL's
# max_connections (100 by default) must exceed gunicorn's processes × threads (2 × 16) plus the workers.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=600)
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
    # Static files are public (CSS, scripts): readable by every account, unlike the private media.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "OPTIONS": {"file_permissions_mode": 0o644, "directory_permissions_mode": 0o755},
    },
}
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("VOLUMES_MAX_UPLOAD_FILES", default=5000)

# The slice viewer's pictures (grey slices per window, masks per threshold), rendered from the stored
# files once and kept here; shared by the web processes, safe to delete at any time.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The limits' request counts (the API's and the files'): in the database, so that every web process, on every host,
    # counts against the same limit. Its table is created by `migrate` (volumes/apps.py).
    "throttle": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "volumes_throttle"},
    # The history's rendered rows ({% cache %} in _measurement_row.html), per process.
    "template_fragments": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fragments",
                           "OPTIONS": {"MAX_ENTRIES": 5000}},
    "slices": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": env.str("VOLUMES_SLICE_CACHE_DIR", default=str(VAR_DIR / "cache" / "slices")),
        "OPTIONS": {"MAX_ENTRIES": env.int("VOLUMES_SLICE_CACHE_ENTRIES", default=5000)},
    },
}

# Where a storage without local paths (S3) has the files the slice viewer reads copied, by content.
VOLUMES_FILE_CACHE_DIR = Path(env.str("VOLUMES_FILE_CACHE_DIR", default=str(VAR_DIR / "cache" / "files")))

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

# Integrity (issue 11): every uploaded file is streamed into a staging folder beside the media files
# (hashed as it arrives, refused whole when the body was cut), then moved into place once its rows commit.
FILE_UPLOAD_HANDLERS = ["volumes.upload_handlers.StagingUploadHandler"]
VOLUMES_STAGING_DIR = env.str("VOLUMES_STAGING_DIR", default="") or None  # default: $DJANGO_MEDIA_ROOT/staging
# A running measurement whose worker is gone is queued again (up to ATTEMPTS starts), then failed; a worker
# on another host counts as gone after TIMEOUT seconds. Workers look every SWEEP seconds.
VOLUMES_MEASUREMENT_TIMEOUT = env.float("VOLUMES_MEASUREMENT_TIMEOUT", default=900)
VOLUMES_MEASUREMENT_ATTEMPTS = env.int("VOLUMES_MEASUREMENT_ATTEMPTS", default=2)
# The archive budget of one upload (README: "Archives"): each limit is named in the message that refuses.
VOLUMES_ARCHIVE_MAX_BYTES = env.int("VOLUMES_ARCHIVE_MAX_BYTES", default=4 * 1024**3)
VOLUMES_ARCHIVE_MAX_RATIO = env.float("VOLUMES_ARCHIVE_MAX_RATIO", default=200)
VOLUMES_ARCHIVE_MAX_ENTRIES = env.int("VOLUMES_ARCHIVE_MAX_ENTRIES", default=10000)
VOLUMES_ARCHIVE_MAX_DEPTH = env.int("VOLUMES_ARCHIVE_MAX_DEPTH", default=3)
VOLUMES_DISK_RESERVE_BYTES = env.int("VOLUMES_DISK_RESERVE_BYTES", default=512 * 1024**2)
VOLUMES_WORKER_SWEEP_SECONDS = env.float("VOLUMES_WORKER_SWEEP_SECONDS", default=30)
# Under load, pages first: a web process unpacks and stores this many uploads at once (the others wait
# their turn), and measurements run at this niceness (0 to 19: higher yields the CPU to the web server).
VOLUMES_UPLOADS_AT_ONCE = env.int("VOLUMES_UPLOADS_AT_ONCE", default=1)
VOLUMES_WORKER_NICENESS = env.int("VOLUMES_WORKER_NICENESS", default=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    # highdicom narrates every module it copies into a DICOM SEG at INFO
    "loggers": {"highdicom": {"level": "WARNING"}},
}

# --- security ---
# The API (Django REST framework), tokens, throttling, sign-in lock-out, CSP, HTTPS, mail, private files.
# One block so that it merges with the settings' other changes; README's settings table lists the variables.
INSTALLED_APPS += [
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as django-axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any password hash
    "django.contrib.auth.backends.ModelBackend",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "volumes.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser: session cookie + CSRF
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["volumes.api_auth.UserRateThrottle", "volumes.api_auth.AddressRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "volumes.api_parsers.UploadParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.JSONParser",
    ],
    "EXCEPTION_HANDLER": "volumes.api_responses.error_response",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests a client may make, per signed-in user and per address (DRF's "N/second|minute|hour|day"):
# the API's, and apart from them the files' (pictures, viewer and live figures, exports).
VOLUMES_API_RATES = {
    "user": env.str("VOLUMES_API_RATE_USER", default="600/minute"),
    "address": env.str("VOLUMES_API_RATE_ADDRESS", default="1200/minute"),
    "file_user": env.str("VOLUMES_FILE_RATE_USER", default="6000/minute"),
    "file_address": env.str("VOLUMES_FILE_RATE_ADDRESS", default="12000/minute"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DICOM volumetry API",
    "DESCRIPTION": "Upload DICOM data, read the volume above a threshold, measure again at another threshold.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files: nothing fetched from a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Sign-in lock-out (django-axes): after this many failed sign-ins for one username from one address,
# that pair is refused (429) for the cool-off time. Failed API tokens count per address.
AXES_FAILURE_LIMIT = env.int("VOLUMES_SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("VOLUMES_SIGNIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every command (`manage.py measure --json` prints only JSON)
AXES_LOCKOUT_CALLABLE = "volumes.api_responses.locked_out_response"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # failures in the database: shared by every process
# The client's address, for the lock-out and the limits: REMOTE_ADDR, or with VOLUMES_PROXY_COUNT reverse
# proxies of ours in front, the address in X-Forwarded-For they vouch for (volumes.api_auth.client_address).
VOLUMES_PROXY_COUNT = env.int("VOLUMES_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "volumes.api_auth.client_address"

# Content-Security-Policy (django-csp): only our own scripts, styles and pictures; no inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# HTTPS (production): all off by default, since `make run` serves plain HTTP on 127.0.0.1.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    # The proxy terminates TLS and sets this header; it must overwrite any value a client sends.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Mail (for password reset): EMAIL_URL such as smtp+tls://user:password@mail.example.org:587.
# Without it, the password-reset pages are not offered.
VOLUMES_MAIL_CONFIGURED = bool(env.str("EMAIL_URL", default=""))
if VOLUMES_MAIL_CONFIGURED:
    globals().update({name: value for name, value in env.email_url("EMAIL_URL").items() if name.startswith("EMAIL_")})
    DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="webmaster@localhost")

# Files and the database, private to the account the app runs as (they hold patient data).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and str(DATABASES["default"]["NAME"]) != ":memory:":
    private_file(Path(DATABASES["default"]["NAME"]))

# De-identification of uploads (PS3.15 Basic Profile, dicognito): off unless asked for.
VOLUMES_DEIDENTIFY = env.bool("VOLUMES_DEIDENTIFY", default=False)
# --- end of security ---
