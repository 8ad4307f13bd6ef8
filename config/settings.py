"""Vigia settings. Every value comes from the environment; the README lists each one with its default."""

import json
import os
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy

# httpx imports its command-line client (click, rich, pygments: ~8 MB in every process) whenever those are
# installed, as the test tools install them; Vigia never uses it. A None entry makes that import fail the
# way httpx expects when they are missing.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # typeshed: modules only; None is allowed

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() not in TRUE + FALSE:  # a typo must not silently mean "off"
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(TRUE + FALSE)}, not {value!r}.")
    return value.strip().lower() in TRUE


def env_int(name: str, default: int, low: int = 0, high: int | None = None) -> int:
    """A whole number within [low, high]; anything else stops the start naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if raw.strip().isascii() else None
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        within = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ImproperlyConfigured(f"{name} must be a whole number {within}, not {raw!r}.")
    return value


def env_float(name: str, default: float, low: float = 0.0) -> float:
    """A finite number of at least `low`; anything else (NaN, infinite, words) stops the start."""
    return env_seconds(name, default, low, float("inf"), kind="a number")


def env_zone(name: str, default: str) -> str:
    """An IANA time zone name the bundled tzdata knows."""
    from zoneinfo import ZoneInfo

    value = os.environ.get(name, "").strip() or default
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError):  # unknown (ZoneInfoNotFoundError is a KeyError), or a path
        raise ImproperlyConfigured(f"{name} must be an IANA time zone like America/Sao_Paulo, not {value!r}.") from None
    return value


LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def env_choice(name: str, default: str, choices: Sequence[str]) -> str:
    value = os.environ.get(name, "").strip() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def env_seconds(
    name: str,
    default: float,
    low: float,
    high: float,
    environ: Mapping[str, str] = os.environ,
    kind: str = "a number of seconds",
) -> float:
    """A number within [low, high] (surrounding blanks allowed); anything else (not an ASCII number, NaN,
    infinite, out of range) stops the start with the variable's name, instead of failing later in the
    process that reads it."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw) if raw.isascii() else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high or value == float("inf"):  # NaN fails both comparisons
        within = f"from {low:g} to {high:g}" if high != float("inf") else f"of at least {low:g}"
        raise ImproperlyConfigured(f"{name} must be {kind} {within}, not {raw!r}.")
    return value


def env_url(name: str) -> str:
    """An http(s) address without a query, or "" when unset; anything else stops the start with its name."""
    value = os.environ.get(name, "").strip()
    if value and (not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value)):
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// address, got {value!r}.")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DATA_DIR = Path(os.environ.get("VIGIA_DATA_DIR", BASE_DIR / "data"))
DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Local use: generate once and keep it, so sessions and signed queue payloads survive restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "scheduler",  # before django_q: its `qcluster` command (scheduler/management/commands) is the one run
    "django_q",
    "channels_app",
    "scrapers",
]
# The benchmarks (`manage.py bench`) live under tests/ with the loopback stand-ins they drive: a checkout has
# them; a production image built without tests/ has neither, and no production module imports them.
if (BASE_DIR / "tests" / "bench" / "apps.py").is_file():
    INSTALLED_APPS.append("tests.bench")

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",  # first: every later layer's log lines and errors carry the id
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files from the web process (right after security)
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # SECURE_CSP below
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # English or pt-BR: the switcher's choice, else Accept-Language
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.login_throttle.LoginThrottleMiddleware",  # after CSRF, auth and messages: refuses locked-out logins
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.OperatorTimezoneMiddleware",
    "config.middleware.AuditMiddleware",  # who is acting, for the audit trail (after authentication)
]

ROOT_URLCONF = "config.urls"
# Messages (an API token shown once, among them) stay on the server, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

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
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "scheduler.shared.roles.context",  # perms_vigia.operate etc.: which buttons a page shows
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"


# A worker cluster reuses its connections without a health check (a `SELECT 1` before every task, every
# acknowledgement and every look at the queue: three round trips per run on top of its two or three). A
# connection that died is found by the next statement instead: each step of the execution wrapper waits out
# a database restart (scheduler.execution.patiently), the broker reconnects (scheduler.djq), and Django
# closes a connection that errored before the next task.
_WORKER_CLUSTER = len(sys.argv) > 1 and Path(sys.argv[0]).name == "manage.py" and sys.argv[1] == "qcluster"


def _database() -> dj_database_url.DBConfig:
    url = os.environ.get("DATABASE_URL")
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{DATA_DIR / 'vigia.sqlite3'}"
    db = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=not _WORKER_CLUSTER)
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the web server, the workers and the scheduler read while one writes; IMMEDIATE
        # transactions take the write lock up front, so a busy database waits instead of failing
        # with "database is locked" half-way through a transaction.
        db["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]  # one date format per locale (config/formats)
TIME_ZONE = env_zone("TIME_ZONE", "America/Sao_Paulo")
USE_I18N = True
USE_TZ = True  # stored in UTC; shown in TIME_ZONE

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("VIGIA_STATIC_ROOT", DATA_DIR / "staticfiles"))  # `collectstatic` fills it
# With DEBUG off, WhiteNoise serves the collected copies: names carry a content hash (cached for a year)
# and gzip/brotli twins. That needs `manage.py collectstatic` first (`manage.py up` runs it).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOG_FORMAT = env_choice("VIGIA_LOG_FORMAT", "text", ["text", "json"])
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            "()": "scheduler.shared.logs.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "scheduler.shared.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_choice("VIGIA_LOG_LEVEL", "INFO", LOG_LEVELS)},
    "loggers": {
        "django_q": {"level": env_choice("VIGIA_QUEUE_LOG_LEVEL", "WARNING", LOG_LEVELS), "propagate": True},
        "httpx": {"level": "WARNING"},  # it logs full URLs at INFO, query-string tokens included
    },
}

# --- Vigia engine ---------------------------------------------------------------------------
VIGIA_QUEUES = ["high", "default", "low"]  # priority order: a cluster serving several takes high first
VIGIA_LEASE_TTL = env_float("VIGIA_LEASE_TTL", 10.0)  # seconds a scheduler leader's lease lasts
VIGIA_MISFIRE_THRESHOLD = env_float("VIGIA_MISFIRE_THRESHOLD", 30.0)  # later than this = missed
# Occurrences due within this many seconds of a dispatch are queued with it, each held on the queue until
# its own time: the dispatches of a busy second become one (scheduler.dispatch.plan_ahead). 0: none.
VIGIA_DISPATCH_AHEAD = env_seconds("VIGIA_DISPATCH_AHEAD", 1.0, 0.0, 10.0)
VIGIA_HEARTBEAT_SECONDS = env_float("VIGIA_HEARTBEAT_SECONDS", 2.0)  # running runs report this often
VIGIA_STALE_AFTER = env_float("VIGIA_STALE_AFTER", 15.0)  # no heartbeat for this long = worker lost
VIGIA_MAX_DELIVERIES = env_int("VIGIA_MAX_DELIVERIES", 3)  # worker losses before a run is failed
VIGIA_MAX_TIMEOUT = env_int("VIGIA_MAX_TIMEOUT", 6 * 3600)  # largest timeout a job may ask for
VIGIA_EXTRA_JOB_KINDS = env_list("VIGIA_EXTRA_JOB_KINDS")  # modules that register more job kinds

# --- Sources ---------------------------------------------------------------------------------
VIGIA_RESERVED_WORKERS = os.environ.get("VIGIA_RESERVED_WORKERS", "high=1")  # workers lower queues may not take


def _reserved_worker_count() -> int:
    """Workers a cluster runs on top of VIGIA_WORKERS, kept for the queues VIGIA_RESERVED_WORKERS names: only
    for a queue this cluster serves together with a lower one (a high-only cluster needs none)."""
    served = [q.strip() for q in os.environ.get("VIGIA_CLUSTER_QUEUES", "").split(",") if q.strip()]
    served = [q for q in VIGIA_QUEUES if q in served] if served else VIGIA_QUEUES
    total = 0
    for part in VIGIA_RESERVED_WORKERS.split(","):
        name, _, count = part.partition("=")
        if name.strip() in served[:-1] and count.strip().isdigit():
            total += int(count)
    return total


VIGIA_QUEUE_PREFETCH = env_int("VIGIA_QUEUE_PREFETCH", 4)  # tasks a cluster takes beyond its busy workers
VIGIA_DEFER_AFTER = env_float("VIGIA_DEFER_AFTER", 1.0)  # a run's first rate-limit wait longer: back on the queue
VIGIA_HOST_RATE = env_float("VIGIA_HOST_RATE", 1.0)  # requests per second per host, unless set per host
VIGIA_POLL_BURST_SECONDS = env_seconds(
    "VIGIA_POLL_BURST_SECONDS", 60.0, 0.0, 86400.0
)  # adaptive sources: fast after a find
VIGIA_FETCH_MAX_BYTES = env_int("VIGIA_FETCH_MAX_BYTES", 5 * 1024 * 1024)
VIGIA_FETCH_MAX_REDIRECTS = env_int("VIGIA_FETCH_MAX_REDIRECTS", 5)
VIGIA_FETCH_RETRIES = env_int("VIGIA_FETCH_RETRIES", 2)  # quick retries inside one check
VIGIA_USER_AGENT = os.environ.get("VIGIA_USER_AGENT", "Vigia/0.1 (self-hosted change monitor; rate-limited)")
# The dashboard's address as people reach it (https://vigia.example.org): links in messages, digests and alerts.
VIGIA_BASE_URL = env_url("VIGIA_BASE_URL")
VIGIA_SOURCE_BROKEN_AFTER = env_int("VIGIA_SOURCE_BROKEN_AFTER", 3)  # consecutive failures = broken

# --- Monitored people (DJEN court journal) ------------------------------------------------------
VIGIA_DJEN_URL = os.environ.get("VIGIA_DJEN_URL", "https://comunicaapi.pje.jus.br").rstrip("/")
VIGIA_DJEN_FIRST_DAYS = env_int("VIGIA_DJEN_FIRST_DAYS", 30)  # a person's first check looks this far back
VIGIA_DJEN_PAGE_SIZE = env_int("VIGIA_DJEN_PAGE_SIZE", 100)  # itensPorPagina (the API allows up to 100)
VIGIA_DJEN_MAX_RESULTS = env_int("VIGIA_DJEN_MAX_RESULTS", 10_000)  # the API serves no more per query
VIGIA_DJEN_RETRY_AFTER = env_float("VIGIA_DJEN_RETRY_AFTER", 60.0)  # wait after a 429 that names none
VIGIA_PEOPLE_CHECK_MINUTES = env_int("VIGIA_PEOPLE_CHECK_MINUTES", 30)  # a new person's check interval
VIGIA_PEOPLE_BATCH = env_int("VIGIA_PEOPLE_BATCH", 500)  # people a fan-out claims per transaction
VIGIA_EXTRA_TRIBUNALS = env_list("VIGIA_EXTRA_TRIBUNALS")  # acronyms to accept beyond the built-in list
VIGIA_SYSTEM_JOBS = env_bool("VIGIA_SYSTEM_JOBS", True)  # create the people cycle jobs on migrate

# --- Deliveries (channels) -------------------------------------------------------------------------
VIGIA_DELIVERY_QUEUE = env_choice("VIGIA_DELIVERY_QUEUE", "high", VIGIA_QUEUES)  # the queue sends wait in
VIGIA_DELIVERY_MAX_ATTEMPTS = env_int("VIGIA_DELIVERY_MAX_ATTEMPTS", 6)  # then a delivery is dead
VIGIA_DELIVERY_BACKOFF = env_float("VIGIA_DELIVERY_BACKOFF", 10.0)  # seconds before the first retry, doubling
VIGIA_DELIVERY_BACKOFF_CAP = env_float("VIGIA_DELIVERY_BACKOFF_CAP", 1800.0)
VIGIA_DELIVERY_REQUEUE_AFTER = env_int("VIGIA_DELIVERY_REQUEUE_AFTER", 60)  # a lost send task is queued again
VIGIA_DELIVERY_SEND_TIMEOUT = env_int("VIGIA_DELIVERY_SEND_TIMEOUT", 120)  # seconds one send may take
# A delivery still "sending" this long after its claim was abandoned (its worker died): it is sent again.
# Past django-q2's own kill of a stuck task (send timeout + 30 s), so a slow send is never doubled.
VIGIA_DELIVERY_STALE_AFTER = env_int(
    "VIGIA_DELIVERY_STALE_AFTER", int(VIGIA_STALE_AFTER) + VIGIA_DELIVERY_SEND_TIMEOUT + 30
)
VIGIA_CHANNEL_PROBE_SECONDS = env_float("VIGIA_CHANNEL_PROBE_SECONDS", 60.0)  # a down channel: one try this often
# Alert notices wait this long, so alerts arriving together go out as one message per recipient (0: at once);
# with VIGIA_ALERT_FLOOD_SECONDS, a recipient's alerts within that time of their last alert message are gathered
# into one message at its end (fewer messages, later ones; 0: off).
VIGIA_ALERT_GROUP_SECONDS = env_float("VIGIA_ALERT_GROUP_SECONDS", 1.0)
VIGIA_ALERT_FLOOD_SECONDS = env_float("VIGIA_ALERT_FLOOD_SECONDS", 0.0)
# --- The system watchdog (channels_app.watchdog): every live process checks Vigia itself, alerts on `system` ---
VIGIA_WATCHDOG_ENABLED = env_bool("VIGIA_WATCHDOG_ENABLED", True)
VIGIA_WATCHDOG_AFTER_SECONDS = env_float("VIGIA_WATCHDOG_AFTER_SECONDS", 120.0)  # a condition lasting this long alerts
VIGIA_WATCHDOG_INTERVAL_SECONDS = env_seconds("VIGIA_WATCHDOG_INTERVAL_SECONDS", 15.0, 0.1, 3600.0)  # per process
VIGIA_WATCHDOG_QUEUE_AGE_SECONDS = env_float("VIGIA_WATCHDOG_QUEUE_AGE_SECONDS", 300.0)  # oldest waiting task
VIGIA_WATCHDOG_WEBHOOK_URL = os.environ.get("VIGIA_WATCHDOG_WEBHOOK_URL", "").strip()  # told directly: database down
VIGIA_DELIVERY_MAX_PACE_WAIT = env_float("VIGIA_DELIVERY_MAX_PACE_WAIT", 5.0)  # longer: wait in line, not asleep
VIGIA_EMAIL_DOMAIN = os.environ.get("VIGIA_EMAIL_DOMAIN", "vigia.local")  # right side of our Message-IDs
# Items' images and documents (channels_app.attachments): fetched once, at most this big (WhatsApp's image limit),
# kept this many days after a message last used them (0: forever).
# A file is held in memory while it is checked and sent: 100 MB at most (WhatsApp's own limit for a document).
VIGIA_ATTACHMENT_MAX_BYTES = env_int("VIGIA_ATTACHMENT_MAX_BYTES", 5 * 1024 * 1024, low=1, high=100 * 1024 * 1024)
VIGIA_RETAIN_ATTACHMENT_DAYS = env_int("VIGIA_RETAIN_ATTACHMENT_DAYS", 30, high=36500)  # 0: for ever
# --- Secrets at rest (channels_app.crypto) ---
# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation: put a new key first, then run
# `manage.py rotate_secrets`). Empty: a key derived from SECRET_KEY, and `check --deploy` warns (vigia.W001).
VIGIA_ENCRYPTION_KEYS = env_list("VIGIA_ENCRYPTION_KEYS")
# Error reports (500 e-mails, the DEBUG page) hide POST fields and local variables named like secrets too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "channels_app.error_reports.SecretsReporterFilter"
MAILERS = {  # Django 6.1's mail configuration; the environment names are the familiar EMAIL_* ones
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ.get("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 25, low=1, high=65535),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "use_ssl": env_bool("EMAIL_USE_SSL", False),
            "timeout": env_int("EMAIL_TIMEOUT", 15),
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "vigia@localhost")

# django-q2 runs the work; our Run table is the history, so successes are not stored twice.
Q_CLUSTER = {
    "name": "vigia",
    "orm": "default",
    "broker_class": "scheduler.djq.PriorityORMBroker",
    # VIGIA_WORKERS for any queue, plus the reserved ones (scheduler.djq.Capacity keeps them for their queue).
    "workers": env_int("VIGIA_WORKERS", 4, low=1) + _reserved_worker_count(),
    # Each queued task carries its run's own timeout (scheduler.queue); this is only the fallback.
    "timeout": env_int("VIGIA_QUEUE_RETRY", 60) - 1,
    "retry": env_int("VIGIA_QUEUE_RETRY", 60),  # unacknowledged tasks come back after this
    "save_limit": -1,
    "ack_failures": True,
    "max_attempts": 1,
    "poll": env_float("VIGIA_QUEUE_POLL", 0.05),
    "bulk": env_int("VIGIA_QUEUE_BULK", 8),
    "guard_cycle": 0.5,
    "recycle": 1000,
    "catch_up": False,
    "label": gettext_lazy("Task queue"),  # django-q2's app in the admin
}

# --- Retention (scheduler.shared.retention; the daily "Prune history" job). Ages in days; 0 keeps forever. ---
VIGIA_RETAIN_RUNS_DAYS = env_int("VIGIA_RETAIN_RUNS_DAYS", 90)  # finished runs (each job's latest is kept)
VIGIA_RETAIN_AUDIT_DAYS = env_int("VIGIA_RETAIN_AUDIT_DAYS", 365)  # the audit trail: who changed what
VIGIA_RETAIN_TASKS_DAYS = env_int("VIGIA_RETAIN_TASKS_DAYS", 7)  # django-q2's task records
VIGIA_RETAIN_DELIVERIES_DAYS = env_int("VIGIA_RETAIN_DELIVERIES_DAYS", 90)  # finished deliveries, then their events
VIGIA_RETAIN_ITEM_HISTORY_DAYS = env_int("VIGIA_RETAIN_ITEM_HISTORY_DAYS", 180)  # item revisions (latest kept)
VIGIA_RETAIN_TRANSFERS_DAYS = env_int("VIGIA_RETAIN_TRANSFERS_DAYS", 7)  # people CSV imports/exports, their files
VIGIA_RETENTION_BATCH = env_int("VIGIA_RETENTION_BATCH", 5000)  # rows deleted per transaction

# --- Health, metrics and log hygiene (config.health, config.metrics, scheduler.shared.logs) ---
VIGIA_HEALTH_MAX_HEARTBEAT_AGE = env_float("VIGIA_HEALTH_MAX_HEARTBEAT_AGE", 30.0)  # older leader lease = 503
VIGIA_HEALTH_MAX_QUEUE_AGE = env_float("VIGIA_HEALTH_MAX_QUEUE_AGE", 300.0)  # older waiting task = 503
VIGIA_HEALTH_MAX_OVERDUE = env_float("VIGIA_HEALTH_MAX_OVERDUE", 60.0)  # an enabled job overdue longer = 503
VIGIA_METRICS_TOKEN = os.environ.get("VIGIA_METRICS_TOKEN", "")  # bearer token for /metrics; empty: no /metrics


# --- The API (config.api, channels_app.callers) ---
VIGIA_API_RATE_PER_MINUTE = env_int("VIGIA_API_RATE_PER_MINUTE", 600)  # per caller, unless its token says; 0: off
VIGIA_API_BURST_SECONDS = env_float("VIGIA_API_BURST_SECONDS", 10.0)  # a burst of this many seconds of the rate
VIGIA_API_FEED_SETTLE = env_float("VIGIA_API_FEED_SETTLE", 2.0)  # feeds show rows this old: none overtaken later
VIGIA_API_JWT_LEEWAY = env_int("VIGIA_API_JWT_LEEWAY", 30, high=3600)  # seconds of clock skew for exp/nbf
# Callbacks (channels_app.callbacks): a run's or message's final status, signed, retried like a delivery.
VIGIA_CALLBACK_MAX_ATTEMPTS = env_int("VIGIA_CALLBACK_MAX_ATTEMPTS", 8, low=1)  # then a callback is dead
VIGIA_CALLBACK_BACKOFF = env_float("VIGIA_CALLBACK_BACKOFF", 10.0)  # seconds before the first retry, doubling
VIGIA_CALLBACK_BACKOFF_CAP = env_float("VIGIA_CALLBACK_BACKOFF_CAP", 3600.0)  # the longest wait between retries


def _jwt_issuers(raw: str) -> dict[str, dict[str, object]]:
    """VIGIA_API_JWT_ISSUERS: a JSON object {"<iss>": {"algorithm": "HS256", "secret": "..."} or {"algorithm":
    "RS256"|"ES256", "public_key": "<PEM or a file path>"}, with optional "audience", "scope_claim" (default
    "scope"), "scopes" (those it may grant), "channels", "addresses", "callback_secret", "rate_per_minute"}."""
    if not raw.strip():
        return {}
    try:
        issuers = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"VIGIA_API_JWT_ISSUERS is not JSON: {exc}") from None
    if not isinstance(issuers, dict):
        raise ImproperlyConfigured("VIGIA_API_JWT_ISSUERS must be a JSON object keyed by issuer (iss).")
    for name, issuer in issuers.items():
        algorithm = issuer.get("algorithm") if isinstance(issuer, dict) else None
        if algorithm not in ("HS256", "HS384", "HS512", "RS256", "ES256"):
            raise ImproperlyConfigured(f"VIGIA_API_JWT_ISSUERS[{name!r}]: algorithm is HS256, RS256 or ES256.")
        if algorithm.startswith("HS") and len(str(issuer.get("secret") or "")) < 32:
            raise ImproperlyConfigured(f"VIGIA_API_JWT_ISSUERS[{name!r}]: an HS secret of at least 32 characters.")
        if not algorithm.startswith("HS") and not issuer.get("public_key"):
            raise ImproperlyConfigured(f"VIGIA_API_JWT_ISSUERS[{name!r}]: public_key (PEM or a file path).")
    return issuers


VIGIA_API_JWT_ISSUERS = _jwt_issuers(os.environ.get("VIGIA_API_JWT_ISSUERS", ""))
# Every console line gets the ids of the run being executed and has secret-looking values masked.
LOGGING.setdefault("filters", {}).update(
    {
        "log_context": {"()": "scheduler.shared.logs.LogContextFilter"},
        "redact_secrets": {"()": "scheduler.shared.logs.RedactSecretsFilter"},
    }
)
LOGGING["handlers"]["console"].setdefault("filters", []).extend(["log_context", "redact_secrets"])

# --- Serving and web hardening (config.security, config.login_throttle, config.db_unavailable) ---
# HTTPS is declared, not detected: with VIGIA_HTTPS=1 plain HTTP is redirected, cookies are Secure and
# browsers are told (HSTS) to use HTTPS only. Behind a TLS-terminating proxy also set VIGIA_BEHIND_PROXY=1,
# so its X-Forwarded-Proto / X-Forwarded-For headers are believed (and only then).
from config.security import content_security_policy  # noqa: E402

VIGIA_HTTPS = env_bool("VIGIA_HTTPS", False)
VIGIA_BEHIND_PROXY = env_bool("VIGIA_BEHIND_PROXY", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")  # e.g. https://vigia.example.org when a proxy rewrites Host
SECURE_SSL_REDIRECT = VIGIA_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers and kubelets probe over plain HTTP
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = VIGIA_HTTPS
SECURE_HSTS_SECONDS = env_int("VIGIA_HSTS_SECONDS", 31_536_000) if VIGIA_HTTPS else 0  # a year
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("VIGIA_HSTS_INCLUDE_SUBDOMAINS", True)
# The preload token asks browser makers to hard-code HTTPS for the whole domain: months to undo, so only on
# request; `check --deploy` would warn about it being off (security.W021), which is the choice made here.
SECURE_HSTS_PRELOAD = env_bool("VIGIA_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if VIGIA_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = LANGUAGE_COOKIE_HTTPONLY = True  # JS reads the meta tag instead
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CSP = content_security_policy()  # everything from our own origin; no inline script or style at all

# Login throttling (config.login_throttle), per (username, address) pair: after this many failures each further
# one makes the pair wait DELAY seconds, doubling up to LOCKOUT (HTTP 429 meanwhile, even with the right
# password); failures are remembered for MEMORY seconds. The counts live in a database cache table
# (`manage.py createcachetable`), so every web worker sees them.
VIGIA_LOGIN_MAX_FAILURES = env_int("VIGIA_LOGIN_MAX_FAILURES", 5, low=1)
VIGIA_LOGIN_DELAY_SECONDS = env_int("VIGIA_LOGIN_DELAY_SECONDS", 15, low=1)
VIGIA_LOGIN_LOCKOUT_SECONDS = env_int("VIGIA_LOGIN_LOCKOUT_SECONDS", 900, low=1)
VIGIA_LOGIN_MEMORY_SECONDS = env_int("VIGIA_LOGIN_MEMORY_SECONDS", 86400, low=60)
CACHES: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CACHES["login_throttle"] = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "vigia_cache",
    "TIMEOUT": VIGIA_LOGIN_MEMORY_SECONDS,
    "OPTIONS": {"MAX_ENTRIES": 100_000},  # culling at the default 300 would let a spray of names erase counts
}
VIGIA_DB_RETRY_AFTER = env_int("VIGIA_DB_RETRY_AFTER", 30)  # Retry-After (seconds) on the database-down 503

# Outbound safety (SSRF): URLs from operators and API clients may not reach loopback, private, link-local
# (cloud metadata), CGNAT, multicast or reserved addresses, unless listed here: host names, IPs or CIDR
# networks, or host:port for that port only, comma-separated (e.g. "wuzapi,10.0.0.0/8,127.0.0.1:8001").
# Checked after DNS and on every redirect.
VIGIA_OUTBOUND_ALLOW = env_list("VIGIA_OUTBOUND_ALLOW")

# `manage.py up` loads the demo data and runs the demo organizer site beside Vigia (on loopback, the web port + 1:
# a gincana task every minute, watched by a demo source); 0 turns both off, as `up --no-demo` does.
VIGIA_DEMO = env_bool("VIGIA_DEMO", True)
