"""Settings, read from the environment top to bottom: Django, database, cache, Celery, beat, results,
email, Sentry, Flower. Production differs from development only through environment variables."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from botocore.config import Config as BotoConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state of `make run`: embedded PostgreSQL and Valkey, mail; RUN_DIR lets two runs stay apart.
RUN_DIR = Path(os.environ.get("RUN_DIR", BASE_DIR / ".run"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Django ---------------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-never-used-with-debug-off"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "django_celery_results",
    "core",
    "myproject",  # the composition root: its seed_demo command is the one place that knows every app
    "accounts",
    "orders",
    "finance",
    "notifications",
]

MIDDLEWARE = [
    "core.operations.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.operations.middleware.RequestBodyLimitMiddleware",  # before CSRF, whose token check parses the body
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "myproject.urls"
WSGI_APPLICATION = "myproject.wsgi.application"
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
                "core.operations.context_processors.operator_links",
                "django.template.context_processors.csp",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sessions live in the database alone: with the Redis cache in front (cached_db) a dead or frozen Redis
# failed or hung every signed-in page. The cost is one primary-key SELECT per request.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "orders:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Files that workers write and web serves (invoice PDFs, contact-import uploads): in an S3-protocol bucket when
# one is named, so web and workers share no disk; otherwise in MEDIA_ROOT (`make run`, compose's media volume).
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL", "")  # empty: AWS itself
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
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            # Unset: boto3's own lookup (an instance or pod role, ~/.aws), so a cluster needs no keys in its Secret.
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            # Objects are written without an ACL and so stay as private as the bucket, which must not be public;
            # people get them only through the staff views that stream them. A URL made anyway is signed and
            # lasts 5 minutes.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            # A name already taken gets a suffix instead of replacing another invoice's or import's file.
            "file_overwrite": False,
            # A file read back (a 10 MB import on a worker) spools to /tmp above this size instead of memory.
            "max_memory_size": FILE_UPLOAD_MAX_MEMORY_SIZE,
            "client_config": BotoConfig(
                signature_version="s3v4",
                # MinIO and other servers at an endpoint URL answer on one host name, not on bucket.host.
                s3={
                    "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE")
                    or ("path" if AWS_S3_ENDPOINT_URL else "auto")
                },
                # Every call gives up within 3 tries of 5 s + 10 s: inside the 50 s soft limit of an invoice's task.
                connect_timeout=5,
                read_timeout=10,
                retries={"mode": "standard", "max_attempts": 3},
            ),
        },
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Largest contact CSV accepted for import (about 150,000 rows); larger lists are split by the user.
CONTACT_IMPORT_MAX_BYTES = int(os.environ.get("CONTACT_IMPORT_MAX_BYTES", "10_000_000"))
# An import's uploaded file and its per-row error report (both hold the people's addresses) are deleted this many
# days after the upload by accounts.cleanup_expired_import_uploads; the import's figures stay.
CONTACT_IMPORT_RETENTION_DAYS = int(os.environ.get("CONTACT_IMPORT_RETENTION_DAYS", "30"))

# Production hardening: every flag that `manage.py check --deploy` asks for, on when DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]  # probes speak plain HTTP inside the network
# Secure cookies whenever DEBUG is off, whatever the redirect: a TLS proxy may redirect by itself. Off only for
# a plain-HTTP server nobody else reaches (the test suite's gunicorn, compose on a laptop).
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Only the site's own scripts, styles, images and forms: no inline script runs (none is needed).
# Style attributes stay allowed for the progress bars' widths: an attribute cannot run script.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Database -------------------------------------------------------------------------------------
# PostgreSQL everywhere. Unset, it is the embedded server that `make run`, `make test` and `make bench`
# start (core/devtools/embedded.py); production sets DATABASE_URL.
EMBEDDED_POSTGRES_PORT = int(os.environ.get("EMBEDDED_POSTGRES_PORT", "55432"))
DATABASE_URL = os.environ.get("DATABASE_URL", f"postgres://postgres@127.0.0.1:{EMBEDDED_POSTGRES_PORT}/app")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://...).")

# --- Cache ----------------------------------------------------------------------------------------
EMBEDDED_REDIS_PORT = int(os.environ.get("EMBEDDED_REDIS_PORT", "6390"))
REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")
# Every Redis client gives up after this long: a killed Redis refuses at once, but a frozen one (paused,
# swapping, a half-open connection) would otherwise hold each caller until the kernel gives up.
REDIS_TIMEOUT_SECONDS = 1.0
# Nothing reads this cache on a request path (sessions are in the database); the timeouts keep a future
# caller from hanging on a frozen Redis.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_timeout": REDIS_TIMEOUT_SECONDS, "socket_connect_timeout": REDIS_TIMEOUT_SECONDS},
    }
}

# --- Celery ---------------------------------------------------------------------------------------
# Each setting is read by myproject/celery.py through the CELERY_ namespace; docs:
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
# Redis brokers use the stock transport plus one fix, so a worker that loses Redis while holding countdown
# or prefetched tasks reconnects instead of dying (core/tasking/redis_transport.py). None: from the URL's scheme
# (rediss:// too, so kombu's TLS checks, which key off the scheme, still apply).
CELERY_BROKER_TRANSPORT = "core.tasking.redis_transport:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
# JSON only: a pickle message from anyone who can reach the broker would be code execution.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_EVENT_SERIALIZER = "json"
# Acknowledge after the task ran, and requeue when its process dies, so a crash never loses a task;
# every task is idempotent to make the redelivery harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Reserve one message at a time so a busy or dying worker holds no backlog hostage; a worker of the default
# queue reserves one more per process (core.tasking.policy.QUEUE_PREFETCH_MULTIPLIER). --prefetch-multiplier
# on a worker's command line overrides both; this is the value for a queue the policy does not name.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Global limits; tasks set tighter ones. A hung task is killed instead of holding a pool slot forever.
CELERY_TASK_SOFT_TIME_LIMIT = 210
CELERY_TASK_TIME_LIMIT = 240
# Redis redelivers an unacknowledged message after this long, which is how a task whose worker was killed
# runs again: short, so it runs within 5 minutes, yet above every hard time limit and every countdown, or a
# long task runs twice (core.tasking.checks enforces it for every registered task).
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "270"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Look for expired messages every 10 s (kombu's default scans every 100 s), so a killed worker's task
    # is back within the visibility timeout + 10 s.
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    # A frozen Redis fails a publish, /healthz or a worker's command after a second instead of hanging it;
    # the worker reconnects and a running task is redelivered (idempotent tasks absorb the copy).
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
}
# Recycle pool processes so a slow leak in a library cannot grow a worker without bound: by size first, by count
# as a backstop. A new process costs a fork, a database connection and its first tasks' copy-on-write faults;
# every 1,000 short tasks that took 10-21 % of a worker's throughput (BENCHMARKS.md), every 10,000 a tenth of it.
CELERY_WORKER_MAX_TASKS_PER_CHILD = 10_000
CELERY_WORKER_MAX_MEMORY_PER_CHILD = 250_000  # KiB
# A pool process records its succeeded tasks' ends, then acknowledges their messages, in one batch at most this
# often (core/tasking/finished_marks.py): one write per batch instead of one per task on each task's critical path.
TASK_END_BATCH_INTERVAL = float(os.environ.get("TASK_END_BATCH_INTERVAL", "0.01"))  # seconds
# Celery closes a pool process's database connection around every task unless this is set (celery.fixups.django):
# a new PostgreSQL connection per task was most of a short task's cost (BENCHMARKS.md). Set to the recycling
# limit, Celery never does; Django's CONN_MAX_AGE and health checks decide, as for requests (core.tasking.policy).
CELERY_DB_REUSE_MAX = CELERY_WORKER_MAX_TASKS_PER_CHILD
# Results cost a write each: off by default, on (ignore_result=False) for tasks operators watch.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = "django-db"
# Store task name, args and worker with each result so the operations page can show them.
CELERY_RESULT_EXTENDED = True
# Show STARTED for tasks that keep results, so operators see running work.
CELERY_TASK_TRACK_STARTED = True
# Stored results are deleted by beat's daily celery.backend_cleanup after this long.
CELERY_RESULT_EXPIRES = timedelta(days=7)
# Named queues so slow bulk work never delays a payment or an email; a typo'd queue fails loudly.
CELERY_TASK_QUEUES = (Queue("default"), Queue("email"), Queue("bulk"))
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_CREATE_MISSING_QUEUES = False
# Flower and the metrics need task events, including the moment a task was sent.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# Keep retrying the broker at start-up so workers survive starting before Redis.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail a publish quickly when the broker is down; the outbox relay sends it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
# RabbitMQ hands a dead worker's tasks to another at once when its connection closes; a worker host that
# vanished without closing it is noticed after two missed heartbeats (20 s instead of Celery's 240 s).
CELERY_BROKER_HEARTBEAT = 10
# On SIGTERM, finish running tasks for this long, then requeue what is left (including held countdown
# tasks) before exiting; compose's stop_grace_period is longer.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(os.environ.get("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", "30"))
CELERY_WORKER_ENABLE_SOFT_SHUTDOWN_ON_IDLE = True
# A lost broker connection cancels running tasks so they are redelivered, not acked into the void.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Every task message is checked before Celery reads it: an unreadable one becomes a dead letter instead of
# killing the worker (core/tasking/message_guard.py). Task events go out in batches (core/tasking/consumer.py).
CELERY_WORKER_CONSUMER = "core.tasking.consumer:Consumer"
# Django's LOGGING configures every process, workers included.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE

# Django's own task API (django.tasks) on the same plumbing: outbox, workers, job rows
# (core/tasking/django_tasks.py); its queue names are the queue profiles of core/tasking/policy.py.
TASKS = {"default": {"BACKEND": "core.tasking.django_tasks.OutboxBackend"}}

# --- Beat -----------------------------------------------------------------------------------------
# Schedules live in the database (editable in admin); this subclass sends only while it holds the beat lock
# (a second beat stands by) and records a heartbeat.
CELERY_BEAT_SCHEDULER = "core.operations.beat:HeartbeatDatabaseScheduler"
# Write schedule state after every sent task so a killed beat does not resend it on restart.
CELERY_BEAT_SYNC_EVERY = 1
# How often beat rereads the schedule, so admin edits take effect without a restart.
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
DJANGO_CELERY_BEAT_TZ_AWARE = True
# The periodic tasks defined in code, by dotted path: core seeds beat's tables from them (core.tasking.schedules)
# without importing the project package, which sits above it.
PERIODIC_TASKS = "myproject.schedules.PERIODIC_TASKS"

# --- Email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "1025"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")
# Where the site is reached from outside, for absolute links in emails (unsubscribe).
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
STAFF_REPORT_EMAILS = env_list("STAFF_REPORT_EMAILS", "staff@example.com")

# --- Payments and exchange rates ------------------------------------------------------------------
# Dotted path of the finance.gateways.PaymentGateway to charge through; a real provider is one more class.
PAYMENT_GATEWAY_CLASS = os.environ.get("PAYMENT_GATEWAY_CLASS", "finance.gateways.SimulatedGateway")
# The simulated gateway's delay per call and share of calls that fail transiently, to demonstrate retries.
PAYMENT_GATEWAY_LATENCY_MS = int(os.environ.get("PAYMENT_GATEWAY_LATENCY_MS", "50"))
PAYMENT_GATEWAY_FAILURE_RATE = float(os.environ.get("PAYMENT_GATEWAY_FAILURE_RATE", "0"))
# Daily euro reference rates in the ECB's XML format (published around 16:00 CET on working days).
EXCHANGE_RATES_URL = os.environ.get(
    "EXCHANGE_RATES_URL", "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
)

# --- Sentry ---------------------------------------------------------------------------------------
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:  # here, not in wsgi.py or a Celery signal, because web, workers and beat all load settings
    from core.operations.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", "development" if DEBUG else "production"),
        release=os.environ.get("SENTRY_RELEASE", ""),
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "0")),
    )

# --- Flower ---------------------------------------------------------------------------------------
FLOWER_URL = os.environ.get("FLOWER_URL", "http://127.0.0.1:5555/")

# --- Health ---------------------------------------------------------------------------------------
HEARTBEAT_INTERVAL_SECONDS = 10
BEAT_HEARTBEAT_MAX_AGE_SECONDS = int(os.environ.get("BEAT_HEARTBEAT_MAX_AGE_SECONDS", "60"))
# /metrics answers only to `Authorization: Bearer <METRICS_TOKEN>`, and is a 404 while it is unset.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Waiting messages above which `manage.py check_queues` fails and QueueBacklog alerts (docs/operating.md):
# default holds quick user-facing work, email bursts with digests, bulk takes whole imports at once.
QUEUE_DEPTH_THRESHOLDS = {
    queue: int(os.environ.get(f"QUEUE_DEPTH_THRESHOLD_{queue.upper()}", default))
    for queue, default in (("default", 100), ("email", 500), ("bulk", 5000))
}

# --- Logging --------------------------------------------------------------------------------------
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_context": {"()": "core.operations.logging.TaskContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(task_name)s %(task_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(task_name)s %(task_id)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["task_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django configures these two before reading this block, each with a handler of its own; left in place,
    # a line printed there was printed again by the root handler, and request lines skipped the format above.
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        "django.server": {"handlers": [], "propagate": True},
    },
}
