"""Fiko settings. Every value comes from the environment, with an embedded default (SPEC.md).

Production and `make run` (DEBUG on) read this module; the test suite reads fiko/test_settings.py,
which imports this one and overrides what tests choose differently. Nothing here asks whether
it runs under tests."""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-000000"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (["*"] if DEBUG else [])

# Frontend origins allowed for CORS (REST) and the WebSocket Origin header (fiko/ws_auth.py).
ALLOWED_ORIGINS = env_list("ALLOWED_ORIGINS")
# Under DEBUG also any http://localhost:<port> and http://127.0.0.1:<port> (SPEC.md): a UI on
# its own dev server (Vite :5173, :3000...) works against `make run` with nothing to set.
ALLOWED_ORIGIN_REGEXES = [r"^http://(localhost|127\.0\.0\.1):[0-9]{1,5}\Z"] if DEBUG else []
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_ALLOWED_ORIGIN_REGEXES = ALLOWED_ORIGIN_REGEXES
CSRF_TRUSTED_ORIGINS = ALLOWED_ORIGINS

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc files, served here (no CDN)
    "channels",
    "workspaces",
    "customers",
    "conversations",
    "chat",
    "integrations",
    "pages",
    "console",
]

MIDDLEWARE = [
    "fiko.metrics.RequestMetricsMiddleware",  # latency by view (fiko/metrics.py)
    "fiko.log_context.RequestIdMiddleware",  # request id on every log line (fiko/log_context.py)
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ in every mode (see STORAGES)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "fiko.query_guard.QueryStringGuard",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fiko.urls"
ASGI_APPLICATION = "fiko.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
# Database work from sockets runs on a bounded pool of DB_THREADS threads (fiko/db.py), and
# REST requests each on a thread of their own; on PostgreSQL every one of them borrows a
# connection from one psycopg pool per process (Django's OPTIONS["pool"]) instead of opening
# a connection (a forked backend, ~10 ms) per call. The pool holds DB_THREADS connections
# plus a few for REST requests and the outbox worker; a caller waits DB_POOL_TIMEOUT seconds
# at most for one.
DB_THREADS = int(os.environ.get("DB_THREADS", 8))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, timestamps parsed in C (fiko/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "fiko.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", 2)),
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", DB_THREADS + 4)),
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", 10)),
        "max_idle": 300,
    }
    # Server-side binding with prepared statements: a query a pooled connection has run
    # DB_PREPARE_THRESHOLD times is parsed and planned once and then only executed (psycopg's
    # automatic preparation; Django turns it off by default for the sake of poolers). On the
    # store of every message the planning was more of PostgreSQL's time than executing (the
    # event's conversation row: 0.48 ms planning, 0.17 ms executing), and psycopg's client-side
    # binding of the values was 8% of the store's Python (bench/RESULTS.md). 0 turns preparing
    # off, e.g. behind PgBouncer in transaction mode older than 1.21.
    _prepare_threshold = int(os.environ.get("DB_PREPARE_THRESHOLD", 5))
    DATABASES["default"]["OPTIONS"].update({
        "server_side_binding": True,
        "prepare_threshold": _prepare_threshold if _prepare_threshold > 0 else None,
    })
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several writers (server threads, the outbox worker) share one file: wait for the lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not :memory:, so live-server tests (a Daphne/uvicorn subprocess) share it.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
        "SQLITE_TEST_NAME", str(BASE_DIR / "test_db.sqlite3")
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
# Static files (the admin's, the API docs') are served by the app itself, with WhiteNoise,
# under Daphne and uvicorn alike. In production (DEBUG off) from STATIC_ROOT, filled by
# `python manage.py collectstatic` (the image runs it): compressed, with content-hashed,
# cache-forever names. Under DEBUG (and in tests, fiko/test_settings.py) straight from the
# apps' static folders, so `make run` and the tests need no collectstatic.
STATIC_FROM_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if STATIC_FROM_FINDERS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = STATIC_FROM_FINDERS
WHITENOISE_AUTOREFRESH = STATIC_FROM_FINDERS
MEDIA_URL = "/uploads/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / "uploads")
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", 10 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Images (uploads and platform media): refused over this many pixels, read from the header
# before any decode (25 Mpx: a 24 Mpx camera photo passes; a decompression bomb does not).
UPLOAD_MAX_IMAGE_PIXELS = int(os.environ.get("UPLOAD_MAX_IMAGE_PIXELS", 25_000_000))
# Full image decodes (thumbnails) at once per process; an upload waiting longer gets 429.
IMAGE_DECODE_CONCURRENCY = int(os.environ.get("IMAGE_DECODE_CONCURRENCY", 2))
IMAGE_DECODE_WAIT_SECONDS = float(os.environ.get("IMAGE_DECODE_WAIT_SECONDS", 10))

# --- Channels -----------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# The longest a socket may stay silent before the server drops it; group membership must
# outlive it, or a quiet but connected socket silently stops receiving its groups.
WEBSOCKET_TIMEOUT_SECONDS = 86400
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "fiko.channel_layer.RedisChannelLayer",  # channels-redis, see the module
            "CONFIG": {
                # redis-py's defaults (small pool, short socket timeout) turn a connection
                # storm of a few hundred sockets into 500 handshakes and 1011 closes.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": int(os.environ.get("REDIS_MAX_CONNECTIONS", 2000)),
                        "socket_timeout": float(os.environ.get("REDIS_SOCKET_TIMEOUT", 30)),
                        "socket_connect_timeout": 10,
                        "retry_on_timeout": True,
                        "health_check_interval": 30,
                    }
                ],
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": WEBSOCKET_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Frames a socket may have unsent (queued behind a client that reads slowly) before it is
# closed with 1013 and an error frame slow_consumer (fiko/consumers.py); it reconnects and
# catches up by seq. Bounds memory per socket, whatever the number of slow sockets.
SOCKET_OUTBOX_MAX_FRAMES = int(os.environ.get("SOCKET_OUTBOX_MAX_FRAMES", 1000))
SOCKET_OUTBOX_MAX_BYTES = int(os.environ.get("SOCKET_OUTBOX_MAX_BYTES", 4 * 1024 * 1024))

# Redis commands (presence, publishing events: fiko/redis_clients.py) use one pool per event
# loop of this many connections; calls wait for a free connection rather than fail.
PRESENCE_REDIS_MAX_CONNECTIONS = int(os.environ.get("PRESENCE_REDIS_MAX_CONNECTIONS", 200))

# Django's cache holds login-failure counters (fiko/login_throttle.py): on Redis when
# REDIS_URL is set, so every server process counts the same failures; per-process otherwise.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "fiko",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fiko"}}

# --- REST ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "fiko.authentication.StaffJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "fiko.json_parser.FikoJSONParser",  # JSON bodies only; the upload view takes multipart
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "fiko.pagination.FikoPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "fiko.api_errors.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("ACCESS_TOKEN_MINUTES", 60))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "SIGNING_KEY": SECRET_KEY,
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fiko API",
    "DESCRIPTION": "Customer-messaging inbox backend. The WebSockets (authentication, every socket and "
    "frame, errors, close codes, catching up): [the WebSocket protocol](/docs/protocol/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs UIs' files come from drf-spectacular-sidecar (pinned), served as static files:
    # /docs works offline. No validator badge (it would call validator.swagger.io).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Same field name, different choices: name each set (chat upload result vs. messages).
    "ENUM_NAME_OVERRIDES": {
        "MediaMessageTypeEnum": ["image", "voice", "video", "file"],
        "MessageTypeEnum": "conversations.models.Message.MessageType",
    },
}

# --- Platforms ----------------------------------------------------------------------------
TELEGRAM_API_BASE = os.environ.get("TELEGRAM_API_BASE", "https://api.telegram.org").rstrip("/")
INSTAGRAM_GRAPH_API_BASE = os.environ.get(
    "INSTAGRAM_GRAPH_API_BASE", "https://graph.facebook.com/v21.0"
).rstrip("/")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
# Platform files we fetch (Telegram's Bot API serves at most 20 MB) and the HTTP time budget.
PLATFORM_MEDIA_MAX_BYTES = int(os.environ.get("PLATFORM_MEDIA_MAX_BYTES", 20 * 1024 * 1024))
PLATFORM_HTTP_TIMEOUT_SECONDS = float(os.environ.get("PLATFORM_HTTP_TIMEOUT_SECONDS", 20))
INSTAGRAM_PROFILE_MAX_AGE_HOURS = float(os.environ.get("INSTAGRAM_PROFILE_MAX_AGE_HOURS", 24))
# Outbound delivery (integrations/delivery/): pending messages are the outbox, drained by
# `manage.py run_delivery_worker` and, in each server process, by a thread woken on commit.
FIKO_DELIVERY_IN_PROCESS = env_bool("FIKO_DELIVERY_IN_PROCESS", True)
OUTBOX_MAX_ATTEMPTS = int(os.environ.get("OUTBOX_MAX_ATTEMPTS", 8))
OUTBOX_RETRY_BASE_SECONDS = float(os.environ.get("OUTBOX_RETRY_BASE_SECONDS", 2))
OUTBOX_RETRY_MAX_SECONDS = float(os.environ.get("OUTBOX_RETRY_MAX_SECONDS", 300))
# A claimed row is not claimed again before its lease ends (integrations/delivery/outbox.py):
# on PostgreSQL OUTBOX_RESCUE_SECONDS (a live sender holds a lock; a crashed one's row is rescued
# then), elsewhere proportional to PLATFORM_HTTP_TIMEOUT_SECONDS. OUTBOX_LEASE_SECONDS overrides.
OUTBOX_LEASE_SECONDS = float(os.environ["OUTBOX_LEASE_SECONDS"]) if os.environ.get("OUTBOX_LEASE_SECONDS") else None
OUTBOX_RESCUE_SECONDS = float(os.environ.get("OUTBOX_RESCUE_SECONDS", 5))
OUTBOX_POLL_SECONDS = float(os.environ.get("OUTBOX_POLL_SECONDS", 1))

FIKO_CHAT_TYPING = env_bool("FIKO_CHAT_TYPING", False)
# Chat sockets of one process joining a conversation within this many seconds of each other
# share one read of its recent_messages while no message event has reached it (chat/consumers.py);
# 0: every socket reads its own. What changes with no event to the conversation (a renamed
# customer or author) reaches a newcomer at most this late.
CHAT_RECENT_MESSAGES_SHARED_SECONDS = float(os.environ.get("CHAT_RECENT_MESSAGES_SHARED_SECONDS", 1))

# --- Behind a proxy, health, metrics (fiko/proxy.py, fiko/ops_endpoints.py) ----------------
# Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks, e.g.
# "172.30.0.0/24"): the proxy in front. Empty: nobody's (REMOTE_ADDR is the client).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# /metrics: from these client addresses, or from anywhere with "Authorization: Bearer <token>".
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS") or ["127.0.0.0/8", "::1"]
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
READYZ_TIMEOUT_SECONDS = float(os.environ.get("READYZ_TIMEOUT_SECONDS", 2))

# --- Logging: tokens never reach a log line (see fiko/log_redaction.py) --------------------
# LOG_FORMAT=json: one JSON object per line (fiko/log_json.py), the default with DEBUG off;
# uvicorn's own loggers then write through the same handler. text: plain lines (development).
def logging_settings(log_format: str) -> dict:
    level = os.environ.get("LOG_LEVEL", "INFO")
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_secrets": {"()": "fiko.log_redaction.RedactSecretsFilter"},
                    "quiet_probes": {"()": "fiko.log_json.QuietProbes"}},
        "formatters": {"json": {"()": "fiko.log_json.JsonFormatter"}, "text": {"format": "%(message)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets", "quiet_probes"],
                        "formatter": "json" if log_format == "json" else "text"},
        },
        "root": {"handlers": ["console"], "level": level},
    }
    if log_format == "json":  # the server's own lines (a socket accepted, a request) obey LOG_LEVEL too
        config["loggers"] = {name: {"handlers": ["console"], "level": level, "propagate": False}
                             for name in ("uvicorn", "uvicorn.access", "daphne")}
    return config


LOG_FORMAT = os.environ.get("LOG_FORMAT") or ("text" if DEBUG else "json")
LOGGING = logging_settings(LOG_FORMAT)

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
