"""Settings, read from the environment.

Every variable has a default that makes the embedded mode work (SQLite, a
filesystem broker and local files under ``var/``); the README lists them all.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("HYPERSTUDY_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The configured key, or one generated once and kept under var/ for the embedded mode."""
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "hyperstudy_dash.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tables2",
    "django_filters",
    "axes",
    "bootstrap",  # django-bootstrap-static: static/bootstrap/{css,js}/
    "template_partials",
    "data_browser",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "data_browser.api.middleware.ApiErrors",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "data_browser.middleware.TimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked sign-in into the lockout page
]

ROOT_URLCONF = "hyperstudy_dash.urls"
WSGI_APPLICATION = "hyperstudy_dash.wsgi.application"

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
                "data_browser.context_processors.navigation",
            ],
        },
    },
]


def _sqlite(config: dict) -> dict:
    """The embedded mode's pragmas on every connection, wherever the file is: WAL so the
    worker writes while pages read, a busy timeout instead of "database is locked", foreign
    keys (Django turns them on too). Transactions stay DEFERRED: an export reads in one long
    transaction, which must not hold the write lock."""
    options = config.setdefault("OPTIONS", {})
    options.setdefault(
        "init_command",
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000; "
        "PRAGMA foreign_keys=ON;",
    )
    return config


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        return _sqlite({"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"})
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    except Exception as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL ({exc})") from None
    if not config.get("ENGINE") or (
        config["ENGINE"] != "django.db.backends.sqlite3" and not config.get("NAME")
    ):
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {url!r}")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return _sqlite(config)
    if config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
        # A dead database address fails fast (libpq's minimum) instead of hanging requests.
        config["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 2))
        config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "hyperstudy_dash.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "hsd"),
            # A dead Redis fails a request in seconds instead of hanging it.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request until collectstatic ran
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# Files: local storage by default; any S3-compatible store when AWS_STORAGE_BUCKET_NAME is set.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
    AWS_QUERYSTRING_AUTH = True
    AWS_QUERYSTRING_EXPIRE = env_int("SIGNED_URL_MAX_AGE", 3600)
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Mail: invitations and password-reset links. The console backend prints them (embedded
# mode); set EMAIL_BACKEND to django.core.mail.backends.smtp.EmailBackend to send them.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HyperStudy Data Dashboard <noreply@localhost>")
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)

# Sign-in throttling (django-axes, data_browser/governance/signin.py): per username and per
# address; the lock doubles for each further lock within a day.
SIGNIN_FAILURE_LIMIT = env_int("SIGNIN_FAILURE_LIMIT", 5)
SIGNIN_LOCKOUT_MINUTES = env_int("SIGNIN_LOCKOUT_MINUTES", 15)
SIGNIN_LOCKOUT_MAX_MINUTES = env_int("SIGNIN_LOCKOUT_MAX_MINUTES", 24 * 60)
AXES_FAILURE_LIMIT = SIGNIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "data_browser.audit.client_ip"  # the one client address (see below)
AXES_COOLOFF_TIME = "data_browser.governance.signin.cool_off"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # attempts while locked don't extend it
AXES_HANDLER = "data_browser.governance.signin.AuditedHandler"
AXES_LOCKOUT_CALLABLE = "data_browser.governance.signin.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log
AXES_ENABLE_ADMIN = False  # unlocking happens on the lab page, where it is audited
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "data_browser:experiments"
LOGOUT_REDIRECT_URL = "login"

# Sessions are read from the cache (written through to the database) when Redis is there.
AUTHENTICATION_BACKENDS = [
    "data_browser.governance.signin.SignInThrottle",  # django-axes: refuses locked sign-ins
    "hyperstudy_dash.auth.ModelBackend",
]
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if REDIS_URL
    else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Production hardening, switched on together by DJANGO_SECURE=1.
_SECURE = env_bool("DJANGO_SECURE", False)
SESSION_COOKIE_SECURE = _SECURE
CSRF_COOKIE_SECURE = _SECURE
SECURE_SSL_REDIRECT = _SECURE and env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP to the process
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if _SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _SECURE
SECURE_HSTS_PRELOAD = _SECURE
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind DJANGO_PROXY_DEPTH reverse proxies (1 with DJANGO_BEHIND_PROXY), a client's address is
# the X-Forwarded-For entry the outermost of them added (django-xff rewrites REMOTE_ADDR before
# anything reads it), so sign-in locks, the audit log, the API's rate limits and a key's last
# address are the client's, not the proxy's; entries a client wrote itself are dropped. With
# no proxy the header is not read at all: anyone could write it.
XFF_TRUSTED_PROXY_DEPTH = env_int("DJANGO_PROXY_DEPTH", 1 if BEHIND_PROXY else 0)
if XFF_TRUSTED_PROXY_DEPTH > 0:
    MIDDLEWARE = ["xff.middleware.XForwardedForMiddleware", *MIDDLEWARE]

# Celery: Redis when REDIS_URL is set, otherwise a broker on the filesystem under var/.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Above the hard time limit, so a long export is never delivered twice while it runs.
        "visibility_timeout": env_int("EXPORT_TIME_LIMIT", 3600) + 600,
    }
else:
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://localhost/"  # a host, or kombu warns at every start
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("EXPORT_TIME_LIMIT", 3600)
CELERY_TASK_TIME_LIMIT = env_int("EXPORT_TIME_LIMIT", 3600) + 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}
CELERY_BEAT_SCHEDULE["exports-purge-expired"] = {
    "task": "exports.tasks.purge_expired_exports",
    "schedule": 15 * 60,
}
# Retention: delete the data of experiments past their deletion date, daily at RETENTION_RUN_HOUR.
CELERY_IMPORTS = ["data_browser.governance.tasks"]
CELERY_BEAT_SCHEDULE["governance-retention"] = {
    "task": "governance.run_retention",
    "schedule": crontab(minute=17, hour=env_int("RETENTION_RUN_HOUR", 3)),
}
CELERY_TIMEZONE = "UTC"

# Product settings.
INGEST_ONSET_TOLERANCE_MS = env_int("INGEST_ONSET_TOLERANCE_MS", 1000)
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 10000)
SIGNED_URL_MAX_AGE = env_int("SIGNED_URL_MAX_AGE", 3600)
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "hyperstudy-demo")
AGGREGATE_MIN_GROUP = env_int("AGGREGATE_MIN_GROUP", 3)
# Keys the participant codes; empty: derived from SECRET_KEY. Set it to keep codes stable
# across secret key rotations.
PSEUDONYM_KEY = env_str("PSEUDONYM_KEY")
EXPORT_RETENTION_HOURS = env_int("EXPORT_RETENTION_HOURS", 72)
EXPORT_TIME_LIMIT = env_int("EXPORT_TIME_LIMIT", 3600)
EXPORT_CHUNK_ROWS = env_int("EXPORT_CHUNK_ROWS", 20000)
EXPORT_PIECE_ROWS = env_int("EXPORT_PIECE_ROWS", 250000)
EXPORT_ZIP_LEVEL = env_int("EXPORT_ZIP_LEVEL", 6)
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 3)
# A running export stamps its row this often; every worker looks for lost ones as often
# (exports/watch.py).
EXPORT_HEARTBEAT_SECONDS = env_int("EXPORT_HEARTBEAT_SECONDS", 10)
# Seconds without a heartbeat after which a running export's worker counts as lost.
EXPORT_LOST_AFTER = env_int("EXPORT_LOST_AFTER", 45)
EXPORT_TEMP_DIR = env_str("EXPORT_TEMP_DIR", str(VAR_DIR / "export-tmp"))

# REST API v3 (data_browser/api): key hashing secret, page sizes, body size and rate limits.
API_KEY_SECRET = env_str("API_KEY_SECRET")  # empty: derived from DJANGO_SECRET_KEY
API_MAX_LIMIT = env_int("API_MAX_LIMIT", 10000)
API_INGEST_MAX_BYTES = env_int("API_INGEST_MAX_BYTES", 20 * 1024 * 1024)
API_RATE_LIMIT_PER_KEY_HOUR = env_int("API_RATE_LIMIT_PER_KEY_HOUR", 1000)
API_RATE_LIMIT_PER_ENDPOINT = env_int("API_RATE_LIMIT_PER_ENDPOINT", 100)  # per key and minute
API_RATE_LIMIT_PER_KEY = env_int("API_RATE_LIMIT_PER_KEY", 600)  # requests per minute
API_RATE_LIMIT_PER_ADDRESS = env_int("API_RATE_LIMIT_PER_ADDRESS", 1200)
API_RATE_LIMIT_FAILED_AUTH = env_int("API_RATE_LIMIT_FAILED_AUTH", 20)

# Prometheus metrics on /metrics: off unless METRICS_ENABLED; then for the listed client
# addresses (or networks), or for a request carrying "Authorization: Bearer METRICS_TOKEN".
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_ENABLED:
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE,
        "hyperstudy_dash.metrics.ApiRequestMetrics",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]

# Logs: one line per record on stderr, as text or (LOG_FORMAT=json) one JSON object a line.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"quiet_refusals": {"()": "hyperstudy_dash.logs.QuietRefusals"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "hyperstudy_dash.logs.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["quiet_refusals"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
