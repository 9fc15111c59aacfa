"""Settings for the loyalty points admin.

Everything that differs between a laptop and production comes from the environment:
DATABASE_URL (default: a SQLite file under var/), REDIS_URL (default: local-memory cache),
SECRET_KEY, DEBUG, ALLOWED_HOSTS. See docs/deploy.md.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LOYALTY_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "pgtrigger",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "axes",
    "django_prometheus",
    "django_structlog",
    "loyalty_admin",
    "accounts",
    "ledger",
]

MIDDLEWARE = [
    # Outermost: the request id, then the request's metrics and its one log line, so that
    # they see every answer, a redirect or a lockout included (docs/deploy.md, Operations).
    "loyalty_admin.request_log.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.ConsoleProgramMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "loyalty_admin.urls"
WSGI_APPLICATION = "loyalty_admin.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the zero-set-up default: WAL lets readers run beside the one writer, and IMMEDIATE
# transactions take the write lock at BEGIN, so concurrent adjustments queue instead of failing
# with "database is locked" half-way through (invariant 4 of DESIGN.md).
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{SQLITE_PATH}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    # Tests get a database file, not one in memory: a test server's threads would share one
    # in-memory connection, and two requests at once could deadlock in SQLite (a query calling
    # one of Django's Python functions waits for the GIL, held by a thread that waits for the
    # connection), as they never do on connections of their own.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
# PostgreSQL: how long a statement waits for a row lock (an account another request is
# changing) before the ledger refuses with ACCOUNT_LOCKED (Yotpo's 423) instead of queueing
# more requests behind it; 0: wait for ever. Behind PgBouncer, set it on the role instead
# (docs/deploy.md).
LOCK_TIMEOUT_SECONDS = float(os.environ.get("LOCK_TIMEOUT", "10"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and LOCK_TIMEOUT_SECONDS:
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c lock_timeout={int(LOCK_TIMEOUT_SECONDS * 1000)}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and rate limits ------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# "shared" is seen by every process (web servers and the job worker): bulk import progress.
if REDIS_URL:
    _redis = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }
    CACHES = {"default": _redis, "shared": _redis}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        },
    }

# Background jobs (bulk imports) wait in the database for `manage.py db_worker`.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Files with more rows than this are applied by the worker instead of in the request.
BULK_INLINE_ROWS = int(os.environ.get("BULK_INLINE_ROWS", "2000"))

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out username+IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords for one username from one address lock that pair out for 15 minutes
# (a correct password included); a success before then resets the count.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, set AXES_IPWARE_META_PRECEDENCE_ORDER so the client's address is used.

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- I18N / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Phone numbers typed without a country code are read in this region.
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "US")

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty points admin API",
    "DESCRIPTION": "Native API, Square Loyalty dialect and Yotpo dialect over one ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "EventTypeEnum": "ledger.models.LoyaltyEvent.Type",
        "SquareEventTypeEnum": "ledger.api.square.events.SQUARE_TYPE_CHOICES",
        "RewardStatusEnum": "ledger.models.Reward.Status",
    },
}
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"

# --- Security (production values when DEBUG is off) -----------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# No inline scripts or styles anywhere in the console; the API docs page relaxes style-src
# for itself only (ledger.api.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# The load balancer's probes answer over plain HTTP even with the HTTPS redirect on.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]

# --- Operations: metrics, logs, retention, stuck work (docs/deploy.md) ------------------------
# GET /metrics answers only these networks, or a request bearing METRICS_TOKEN.
METRICS_ALLOWED_NETWORKS = [
    n.strip()
    for n in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",")
    if n.strip()
]
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
PROMETHEUS_EXPORT_MIGRATIONS = False
# The proxies whose X-Request-ID is kept (networks); anyone else's is replaced by a new id.
TRUSTED_PROXIES = [n.strip() for n in os.environ.get("TRUSTED_PROXIES", "").split(",") if n.strip()]
# Idempotency records older than this are pruned by `manage.py prune_idempotency_records`;
# a retry with an older key is then treated as a new request.
IDEMPOTENCY_RETENTION_DAYS = int(os.environ.get("IDEMPOTENCY_RETENTION_DAYS", "30"))
# A bulk batch "Applying" with no heartbeat from its worker for this long is stale:
# `manage.py recover_bulk_batches` requeues it, or fails it after BULK_MAX_ATTEMPTS tries.
BULK_STALE_SECONDS = int(os.environ.get("BULK_STALE_SECONDS", "120"))
BULK_MAX_ATTEMPTS = int(os.environ.get("BULK_MAX_ATTEMPTS", "3"))

# One line per request (django-structlog) with its request id, and that id on every line.
# JSON for log shippers when DEBUG is off; aligned text on a developer's terminal.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "console" if DEBUG else "json")
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True  # RequestIdMiddleware has vetted it
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = 10  # DEBUG: "request_started" is not logged
DJANGO_STRUCTLOG_USER_ID_FIELD = None  # request_log names the operator instead
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False  # request_log logs REMOTE_ADDR, as the audit does
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": "loyalty_admin.request_log.formatter",
            "json": LOG_FORMAT == "json",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# --- Webhooks (docs/webhooks.md) -------------------------------------------------------------
# Hosts or networks (CIDR) that notifications are never sent to, checked before connecting;
# outside DEBUG the private, loopback and link-local ranges by default. ALLOWED punches holes.
_PRIVATE_NETWORKS = (
    "0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,"
    "192.168.0.0/16,::/128,::1/128,fc00::/7,fe80::/10"
)
_refused = os.environ.get("WEBHOOK_REFUSED_NETWORKS", "" if DEBUG else _PRIVATE_NETWORKS)
WEBHOOK_REFUSED_NETWORKS = [n.strip() for n in _refused.split(",") if n.strip()]
_allowed = os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "")
WEBHOOK_ALLOWED_NETWORKS = [n.strip() for n in _allowed.split(",") if n.strip()]
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))
WEBHOOK_RESPONSE_LIMIT = 64 * 1024
# How long each process remembers which subscriptions want which events (docs/webhooks.md).
WEBHOOK_LOCAL_SECONDS = float(os.environ.get("WEBHOOK_LOCAL_SECONDS", "2"))
# Retries: exponential from WEBHOOK_RETRY_FIRST_SECONDS, at most WEBHOOK_RETRY_MAX_SECONDS
# apart, with jitter, for WEBHOOK_RETRY_HOURS; then the notification is failed.
WEBHOOK_RETRY_FIRST_SECONDS = 15
WEBHOOK_RETRY_MAX_SECONDS = 3600
WEBHOOK_RETRY_HOURS = 24
WEBHOOK_MERCHANT_ID = os.environ.get("WEBHOOK_MERCHANT_ID", "LOYALTY_ADMIN")
