"""MailPass settings: everything comes from the environment (django-environ).

With no environment at all the service runs on an embedded default: a SQLite file under
``MAILPASS_DATA_DIR``, Celery tasks run eagerly in the web process, a generated development
secret kept in the data directory. Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL``,
``SECRET_KEY`` and friends (see README.md, "Configuration").
"""

import base64
import hashlib
import re
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):
    """django-environ that names the variable when a value cannot be read (int, float, URL)."""

    def get_value(self, var, *args, **kwargs):
        try:
            return super().get_value(var, *args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(f"{var} has an invalid value: {exc}") from exc


env = _Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("MAILPASS_DATA_DIR", default=str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)


def _development_secret_key() -> str:
    """A random secret generated once and kept in the data directory.

    It must survive restarts: sessions and the default encryption key of stored SMTP
    passwords are derived from it.
    """
    path = DATA_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "mailpass.apps.MailPassAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "providers",
    "mail",
    "relay",
    "dashboard",
    "templating",
    "webhooks",
    "feedback",
    "suppressions",
]

# The header middlewares come first so that answers made early (413 before the body is read)
# carry the security headers too.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mailpass.middleware.ApiBodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "mailpass.urls"

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

WSGI_APPLICATION = "mailpass.wsgi.application"

# Database: the embedded default is a SQLite file; production sets DATABASE_URL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'mailpass.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a health check that reads the socket instead of sending a query.
    DATABASES["default"]["ENGINE"] = "mailpass.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads of the development server write at once; wait instead of failing.
    sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    sqlite_options.setdefault("timeout", 20)
    # A transaction takes the write lock when it begins: a deferred one that reads and then
    # writes gets "database is locked" at once (SQLite cannot wait there without deadlocking).
    sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
    # Readers do not wait for a writer (write-ahead log; ignored by in-memory test databases).
    sqlite_options.setdefault("init_command", "PRAGMA journal_mode=WAL;")
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        # Tests on a file beside the real one, not Django's shared-cache memory database:
        # that one locks whole tables (no busy wait), which the embedded default never does.
        DATABASES["default"].setdefault("TEST", {}).setdefault(
            "NAME", f"{DATABASES['default']['NAME']}.test"
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: the per-key API rate limit lives here. Redis in production, local memory otherwise.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://mailpass")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # redis-py waits forever by default; a hung Redis must not hang every API request.
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=env.float("CACHE_TIMEOUT_SECONDS", default=1.0),
        socket_timeout=env.float("CACHE_TIMEOUT_SECONDS", default=1.0),
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Static files are served from the app folders until collectstatic fills STATIC_ROOT; the
# folder exists from the start so WhiteNoise does not warn about it on every worker start.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Security headers; the HTTPS-only ones are switched on by SECURE_SSL_REDIRECT in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Health checks come over plain HTTP from inside the container or the load balancer.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Both on with HSTS unless told otherwise; preload is a promise to browsers, so it can be turned off.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- MailPass -------------------------------------------------------------------------------
MAILPASS_PUBLIC_URL = env.str("MAILPASS_PUBLIC_URL", default="http://localhost:8000").rstrip("/")
MAILPASS_MESSAGE_ID_DOMAIN = env.str("MAILPASS_MESSAGE_ID_DOMAIN", default="mailpass.im")
# 20 MiB: the largest attachments (10 MiB decoded, about 13.4 MiB as base64) and the rest of
# the message fit (API.md sections 2 and 12).
MAILPASS_MAX_BODY_BYTES = env.int("MAILPASS_MAX_BODY_BYTES", default=20 * 1024 * 1024)
# Decoded attachments of one message together (API.md section 12).
MAILPASS_MAX_ATTACHMENT_BYTES = env.int("MAILPASS_MAX_ATTACHMENT_BYTES", default=10 * 1024 * 1024)
# Attachment extensions refused, case-insensitive, also as the last of several (x.pdf.exe);
# setting the variable replaces the whole list (empty: nothing is blocked).
MAILPASS_BLOCKED_ATTACHMENT_EXTENSIONS = [
    extension.strip().lstrip(".").lower()
    for extension in env.str(
        "MAILPASS_BLOCKED_ATTACHMENT_EXTENSIONS",
        default="exe,bat,cmd,com,cpl,scr,pif,msi,msp,jar,js,jse,vbs,vbe,wsf,wsh,ps1,hta,reg,lnk,dll",
    ).split(",")
    if extension.strip()
]
MAILPASS_TRUSTED_PROXY_COUNT = env.int("MAILPASS_TRUSTED_PROXY_COUNT", default=0)
MAILPASS_SMTP_TIMEOUT = env.float("MAILPASS_SMTP_TIMEOUT", default=10.0)
# Single sends keep their SMTP connection open this long between requests (0: never reuse).
MAILPASS_SMTP_REUSE_SECONDS = env.float("MAILPASS_SMTP_REUSE_SECONDS", default=30.0)
# A PEM bundle of CAs to trust for SMTP TLS instead of the system's (a private CA).
MAILPASS_SMTP_CA_FILE = env.str("MAILPASS_SMTP_CA_FILE", default="") or None
MAILPASS_IDEMPOTENCY_TTL_HOURS = env.int("MAILPASS_IDEMPOTENCY_TTL_HOURS", default=24)
MAILPASS_API_RATE = env.str("MAILPASS_API_RATE", default="1200/min")
MAILPASS_QUEUE_DRAIN_INTERVAL = env.float("MAILPASS_QUEUE_DRAIN_INTERVAL", default=10.0)
MAILPASS_QUEUE_BATCH_SIZE = env.int("MAILPASS_QUEUE_BATCH_SIZE", default=200)
MAILPASS_QUEUE_LEASE_SECONDS = env.int("MAILPASS_QUEUE_LEASE_SECONDS", default=300)
MAILPASS_QUEUE_MAX_ATTEMPTS = env.int("MAILPASS_QUEUE_MAX_ATTEMPTS", default=5)
MAILPASS_QUEUE_RETRY_BASE_SECONDS = env.float("MAILPASS_QUEUE_RETRY_BASE_SECONDS", default=60.0)
# API.md s.14: how far ahead send_at may be.
MAILPASS_MAX_SCHEDULE_DAYS = env.int("MAILPASS_MAX_SCHEDULE_DAYS", default=30)
if MAILPASS_MAX_SCHEDULE_DAYS < 1:
    raise ImproperlyConfigured("MAILPASS_MAX_SCHEDULE_DAYS must be 1 or more.")
# SMTP relay (API.md section 18): STARTTLS certificate and key (PEM files); AUTH without TLS
# only when explicitly allowed (development); threads doing its database work.
MAILPASS_SMTP_RELAY_TLS_CERT = env.str("MAILPASS_SMTP_RELAY_TLS_CERT", default="")
MAILPASS_SMTP_RELAY_TLS_KEY = env.str("MAILPASS_SMTP_RELAY_TLS_KEY", default="")
MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH = env.bool(
    "MAILPASS_SMTP_RELAY_ALLOW_PLAIN_AUTH", default=False
)
MAILPASS_SMTP_RELAY_DB_THREADS = env.int("MAILPASS_SMTP_RELAY_DB_THREADS", default=8)
if MAILPASS_SMTP_RELAY_DB_THREADS < 1:
    raise ImproperlyConfigured("MAILPASS_SMTP_RELAY_DB_THREADS must be at least 1.")

# Webhooks (API.md section 17).
MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool(
    "MAILPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False
)
try:
    MAILPASS_WEBHOOK_RETRY_SCHEDULE = [
        int(part)
        for part in env.str(
            "MAILPASS_WEBHOOK_RETRY_SCHEDULE", default="5,300,1800,7200,18000,36000,36000"
        ).split(",")
        if part.strip()
    ]
    if any(seconds < 0 for seconds in MAILPASS_WEBHOOK_RETRY_SCHEDULE):
        raise ValueError
except ValueError as exc:
    raise ImproperlyConfigured(
        "MAILPASS_WEBHOOK_RETRY_SCHEDULE must be whole seconds (0 or more), comma-separated, "
        "like 5,300,1800."
    ) from exc
MAILPASS_WEBHOOK_TIMEOUT = env.float("MAILPASS_WEBHOOK_TIMEOUT", default=10.0)
# Deliveries in flight at once in one worker process, and to one endpoint across all workers.
MAILPASS_WEBHOOK_CONCURRENCY = env.int("MAILPASS_WEBHOOK_CONCURRENCY", default=8)
MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY = env.int("MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY", default=2)
# A claimed delivery whose worker died is taken again after this; above the timeout.
MAILPASS_WEBHOOK_LEASE_SECONDS = env.int("MAILPASS_WEBHOOK_LEASE_SECONDS", default=60)
MAILPASS_WEBHOOK_INTERVAL = env.float("MAILPASS_WEBHOOK_INTERVAL", default=5.0)
MAILPASS_WEBHOOK_DISABLE_AFTER_DAYS = env.float("MAILPASS_WEBHOOK_DISABLE_AFTER_DAYS", default=5.0)
MAILPASS_WEBHOOK_MAX_ENDPOINTS = env.int("MAILPASS_WEBHOOK_MAX_ENDPOINTS", default=10)
# One worker run stops taking new deliveries after this long (the next run goes on).
MAILPASS_WEBHOOK_RUN_SECONDS = env.float("MAILPASS_WEBHOOK_RUN_SECONDS", default=50.0)
# Ask for a run right after an event's transaction commits (the periodic run is the guarantee).
MAILPASS_WEBHOOK_KICK = env.bool("MAILPASS_WEBHOOK_KICK", default=True)
for _name in (
    "MAILPASS_WEBHOOK_TIMEOUT",
    "MAILPASS_WEBHOOK_CONCURRENCY",
    "MAILPASS_WEBHOOK_ENDPOINT_CONCURRENCY",
    "MAILPASS_WEBHOOK_LEASE_SECONDS",
    "MAILPASS_WEBHOOK_INTERVAL",
):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be greater than 0.")
if MAILPASS_WEBHOOK_LEASE_SECONDS <= MAILPASS_WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured(
        "MAILPASS_WEBHOOK_LEASE_SECONDS must be longer than MAILPASS_WEBHOOK_TIMEOUT."
    )

# Delivery feedback (API.md section 16). SNS signing certificates and SubscribeURLs must match
# this pattern whole; the default allows Amazon SNS's regional endpoints only.
MAILPASS_SNS_CERT_URL_PATTERN = env.str(
    "MAILPASS_SNS_CERT_URL_PATTERN", default=r"https://sns\.[a-z0-9-]+\.amazonaws\.com/\S*"
)
# Event requests per provider event URL (a flood cannot fill the database).
MAILPASS_FEEDBACK_RATE = env.str("MAILPASS_FEEDBACK_RATE", default="6000/min")
# Mailgun signatures older than this are refused as replays.
MAILPASS_FEEDBACK_MAX_AGE_SECONDS = env.int("MAILPASS_FEEDBACK_MAX_AGE_SECONDS", default=900)
# VERP bounces: the envelope sender becomes bounces+TOKEN@ this domain (empty: off).
MAILPASS_BOUNCE_DOMAIN = env.str("MAILPASS_BOUNCE_DOMAIN", default="").strip().lower()
try:
    re.compile(MAILPASS_SNS_CERT_URL_PATTERN)
except re.error as exc:
    raise ImproperlyConfigured(
        f"MAILPASS_SNS_CERT_URL_PATTERN is not a regular expression: {exc}"
    ) from exc
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", MAILPASS_FEEDBACK_RATE):
    raise ImproperlyConfigured(
        f"MAILPASS_FEEDBACK_RATE must look like 6000/min, not {MAILPASS_FEEDBACK_RATE!r}."
    )

if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", MAILPASS_API_RATE):
    raise ImproperlyConfigured(
        f"MAILPASS_API_RATE must look like 1200/min (a number / s, min, hour or day), "
        f"not {MAILPASS_API_RATE!r}."
    )
if not re.match(r"https?://[^/]+", MAILPASS_PUBLIC_URL):
    raise ImproperlyConfigured(
        f"MAILPASS_PUBLIC_URL must be an http(s) URL, not {MAILPASS_PUBLIC_URL!r}."
    )
for _name in ("MAILPASS_MAX_BODY_BYTES", "MAILPASS_MAX_ATTACHMENT_BYTES", "MAILPASS_SMTP_TIMEOUT"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be greater than 0.")
if MAILPASS_TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("MAILPASS_TRUSTED_PROXY_COUNT must be 0 or more.")


def _derived_encryption_key(secret: str) -> str:
    digest = hashlib.sha256(b"mailpass-provider-passwords:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Old SECRET_KEYs, newest first (comma-separated): tracking links signed with one still work.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Comma-separated Fernet keys: the first encrypts, every one decrypts (rotation: put the new key
# first, run `manage.py rotate_encryption_key`, then drop the old one). Unset: derived from
# SECRET_KEY, and from each SECRET_KEY_FALLBACKS entry so that a rotated SECRET_KEY still reads
# what its predecessor encrypted.
MAILPASS_ENCRYPTION_KEY = env.str("MAILPASS_ENCRYPTION_KEY", default="") or ",".join(
    _derived_encryption_key(secret) for secret in [SECRET_KEY, *SECRET_KEY_FALLBACKS]
)
MAILPASS_ENCRYPTION_KEYS = [
    key.strip() for key in MAILPASS_ENCRYPTION_KEY.split(",") if key.strip()
]
try:
    if not MAILPASS_ENCRYPTION_KEYS:
        raise ValueError
    for _key in MAILPASS_ENCRYPTION_KEYS:
        if len(base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
except ValueError as exc:
    raise ImproperlyConfigured(
        "MAILPASS_ENCRYPTION_KEY must be one or more comma-separated Fernet keys (32 url-safe "
        'base64-encoded bytes each); make one with: python -c "from cryptography.fernet import '
        'Fernet; print(Fernet.generate_key().decode())"'
    ) from exc

# Data uploads: the API body limit (413 PAYLOAD_TOO_LARGE) and Django's own guard agree.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAILPASS_MAX_BODY_BYTES

# --- Django REST framework ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasMailPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mailpass.parsers.ApiJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "mailpass.api.JsonOnlyContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mailpass.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": MAILPASS_API_RATE},
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MailPass Mail Send API",
    "DESCRIPTION": "Transactional email over your own SMTP providers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's assets are served by MailPass itself: self-hosted installs may have no
    # internet access, and a CDN would see every visit.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        # The provider event URL is a plain Django view (raw body for signatures).
        "feedback.openapi.feedback_path_add",
        "mailpass.schema_hooks.bad_request_documented",
    ],
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Without a broker, tasks run in the web process right away (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = False
if not CELERY_BROKER_URL:
    # With a host: a bare "memory://" makes kombu warn "No hostname was supplied".
    CELERY_BROKER_URL = "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# redis-py waits forever by default: a Redis that accepts connections and never answers would
# hang the after-commit kick of every batch request, /healthz and the workers. With timeouts
# the kick gives up in seconds (the periodic drain sends the mail) and workers reconnect.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=2.0),
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=3.0),
}
# One quick retry when publishing, not Celery's default of three: a request must not wait long
# for a kick that only cuts latency.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Webhook deliveries have their own queue and workers (`celery worker -Q webhooks`): a slow
# receiver never holds up the mail queue.
CELERY_TASK_ROUTES = {"webhooks.*": {"queue": "webhooks"}}
CELERY_TIMEZONE = "UTC"

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd (the development sink, the test SMTP server) logs every command at INFO.
        "mail.log": {"level": "WARNING"},
        # httpx logs every webhook POST at INFO; attempts are recorded in the database.
        "httpx": {"level": "WARNING"},
    },
}
if CELERY_TASK_ALWAYS_EAGER:
    # Tasks run in the web process (the embedded default runs beat's schedule there too):
    # a "succeeded" line every few seconds would bury the server's own log.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
