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
        private_folder(VAR_DIR)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def private_folder(path: Path) -> None:
    """Create `path` readable by this account only (0700): it holds patient data and the secret key."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Create an empty file readable by this account only (0600) if it is missing: SQLite then keeps
    the mode, and gives its -wal and -shm files the same one."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


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
# Uploads above this size are streamed to a temporary file instead of being held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = os.environ.get("DJANGO_FILE_UPLOAD_TEMP_DIR") or None
DATA_UPLOAD_MAX_NUMBER_FILES = int(os.environ.get("VOLUMES_MAX_UPLOAD_FILES", "5000"))

# The slice viewer's pictures (grey slices per window, masks per threshold), rendered from the stored
# files once and kept here; shared by the web processes, safe to delete at any time.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "slices": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.environ.get("VOLUMES_SLICE_CACHE_DIR", str(VAR_DIR / "cache" / "slices")),
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("VOLUMES_SLICE_CACHE_ENTRIES", "5000"))},
    },
}

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
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
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.JSONParser",
    ],
    "EXCEPTION_HANDLER": "volumes.api_responses.error_response",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Requests a client may make, per signed-in user and per address (DRF's "N/second|minute|hour|day").
VOLUMES_API_RATES = {
    "user": os.environ.get("VOLUMES_API_RATE_USER", "600/minute"),
    "address": os.environ.get("VOLUMES_API_RATE_ADDRESS", "1200/minute"),
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
AXES_FAILURE_LIMIT = int(os.environ.get("VOLUMES_SIGNIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("VOLUMES_SIGNIN_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every command (`manage.py measure --json` prints only JSON)
AXES_LOCKOUT_CALLABLE = "volumes.api_responses.locked_out_response"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]  # behind a proxy, set the proxy to overwrite it

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
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    # The proxy terminates TLS and sets this header; it must overwrite any value a client sends.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Mail (for password reset): EMAIL_URL such as smtp+tls://user:password@mail.example.org:587.
# Without it, the password-reset pages are not offered.
if os.environ.get("EMAIL_URL"):
    import environ

    mail = environ.Env.email_url_config(os.environ["EMAIL_URL"])
    globals().update({name: value for name, value in mail.items() if name.startswith("EMAIL_")})
    DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "webmaster@localhost")
VOLUMES_MAIL_CONFIGURED = bool(os.environ.get("EMAIL_URL"))

# Files and the database, private to the account the app runs as (they hold patient data).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and str(DATABASES["default"]["NAME"]) != ":memory:":
    private_file(Path(DATABASES["default"]["NAME"]))

# De-identification of uploads (PS3.15 Basic Profile, dicognito): off unless asked for.
VOLUMES_DEIDENTIFY = env_bool("VOLUMES_DEIDENTIFY", False)
# --- end of security ---
