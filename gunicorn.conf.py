"""Gunicorn's production settings for the web service (docker-compose.yml) and the benchmarks."""

import multiprocessing
import os

bind = f"{os.environ.get('WEB_BIND_ADDRESS', '0.0.0.0')}:{os.environ.get('WEB_PORT', '8000')}"
# Views only enqueue and read, so a few sync workers with threads cover the I/O waits; capped because each
# worker holds its own database connections.
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8)))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
# Slow work runs in Celery, so a request taking longer than this is a bug: kill it rather than queue behind it.
timeout = 30
# On SIGTERM, finish in-flight requests; compose's stop_grace_period is longer.
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, staggered, so a slow leak cannot grow them without bound.
max_requests = 2000
max_requests_jitter = 200
# Heartbeat files on tmpfs: a container's overlay filesystem can stall and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn limits only the request line and headers (limit_request_*), never the body: in compose the nginx
# `proxy` in front refuses an oversized body (413) before gunicorn reads it (deploy/nginx), and
# core.operations.middleware.RequestBodyLimitMiddleware does too before Django reads it, wherever gunicorn runs.
# The reverse proxy in front sets X-Forwarded-Proto; trust it only from inside the compose network.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_fork(server, worker):
    """Tracing per gunicorn worker, after the fork (core/operations/tracing.py; off without
    OTEL_EXPORTER_OTLP_ENDPOINT)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    from core.operations.tracing import tracing_init

    tracing_init("web")
