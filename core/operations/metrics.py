"""Prometheus metrics: request and task counts kept in Redis hashes (shared by every web and worker process),
read together with queue depths, heartbeats and dead letters when Prometheus scrapes /metrics."""

import hmac
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from celery import signals
from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from core.redis import redis_client
from core.tasking.later import later

logger = logging.getLogger(__name__)

TASK_COUNTS_KEY = "metrics:celery:tasks"
TASK_RUNTIME_KEY = "metrics:celery:runtime"
REQUEST_COUNTS_KEY = "metrics:http:requests"
REQUEST_LATENCY_KEY = "metrics:http:latency"
SEPARATOR = "|"  # joins label values into one hash field; no task, view or method name contains it

TASK_RUNTIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REQUEST_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# --- Writing: one Redis round trip per request, and per second of tasks ---------------------------------------
def _bucket_for(seconds: float, buckets: tuple[float, ...]) -> str:
    return next((str(bound) for bound in buckets if seconds <= bound), "+Inf")


# A sample is worth less than the response it describes: a frozen Redis costs a request at most this long
# (a healthy one answers in well under a millisecond)...
SAMPLE_WRITE_TIMEOUT_SECONDS = 0.2
# ...and after a failed write, writes are skipped this long, so it costs one request in ten seconds.
RECORDING_PAUSE_AFTER_FAILURE = 10.0
_recording_paused_until = 0.0


def _increments(counter: tuple | None, histogram: tuple | None) -> list[tuple[str, str, int | float]]:
    """A counter's increment and/or a histogram's observation, as (hash key, field, amount) triples."""
    increments = []
    if counter is not None:
        key, labels = counter
        increments.append((key, SEPARATOR.join(labels), 1))
    if histogram is not None:
        key, labels, seconds, buckets = histogram
        prefix = SEPARATOR.join(labels)
        increments.append((key, f"{prefix}{SEPARATOR}{_bucket_for(seconds, buckets)}", 1))
        increments.append((key, f"{prefix}{SEPARATOR}sum", float(seconds)))
    return increments


def _write(increments: Iterable[tuple[str, str, int | float]]) -> None:
    """One round trip; a Redis outage costs samples, never the work."""
    global _recording_paused_until
    if time.monotonic() < _recording_paused_until:
        return
    try:
        pipe = redis_client(timeout=SAMPLE_WRITE_TIMEOUT_SECONDS).pipeline(transaction=False)
        for key, field, amount in increments:
            if isinstance(amount, float):
                pipe.hincrbyfloat(key, field, amount)
            else:
                pipe.hincrby(key, field, amount)
        pipe.execute()
    except Exception as exc:
        _recording_paused_until = time.monotonic() + RECORDING_PAUSE_AFTER_FAILURE
        logger.warning("metrics not recorded for %.0f s: %r", RECORDING_PAUSE_AFTER_FAILURE, exc)


def _record(counter: tuple | None = None, histogram: tuple | None = None) -> None:
    """Increment a counter and/or observe a histogram now."""
    _write(_increments(counter, histogram))


def request_observe(*, method: str, view: str, status: int, seconds: float) -> None:
    _record(
        (REQUEST_COUNTS_KEY, (method, view, str(status))),
        (REQUEST_LATENCY_KEY, (method, view), seconds, REQUEST_LATENCY_BUCKETS),
    )


def task_count(*, task_name: str, state: str) -> None:
    _record(counter=(TASK_COUNTS_KEY, (task_name, state)))


# A task is counted once, when it ends: its outcome and its runtime, added up in the pool process and written
# to Redis once a second (core.tasking.later), in one round trip. Counting "received" (in the worker's main
# process, which also fetches and acknowledges every task) and "started", each task's own round trip, were most
# of a short task's cost after its job rows (BENCHMARKS.md). A pool process killed outright loses at most its
# last second of counts; Flower and the Operations page show what is running now.
FLUSH_INTERVAL_SECONDS = 1.0
FLUSH_SLOT = "metrics"
_task_started_at: dict[str, float] = {}  # per pool process: prerun and postrun run in the same one
# Celery sends task_success, task_failure and task_retry in the pool process just before task_postrun.
_task_outcome: dict[str, str] = {}
_unwritten: dict[tuple[str, str], int | float] = {}
_unwritten_lock = threading.Lock()


def _add_up(increments: list[tuple[str, str, int | float]]) -> None:
    with _unwritten_lock:
        first = not _unwritten
        for key, field, amount in increments:
            _unwritten[key, field] = _unwritten.get((key, field), 0) + amount
    if first:
        later.schedule(FLUSH_SLOT, FLUSH_INTERVAL_SECONDS, _flush)


def _flush(**_kwargs) -> None:
    with _unwritten_lock:
        increments = [(key, field, amount) for (key, field), amount in _unwritten.items()]
        _unwritten.clear()
    if increments:
        _write(increments)


def _on_prerun(task_id=None, **_kwargs):
    _task_started_at[task_id] = time.monotonic()


def _on_postrun(task_id=None, task=None, **_kwargs):
    started = _task_started_at.pop(task_id, None)
    outcome = _task_outcome.pop(task_id, None)
    _add_up(
        _increments(
            counter=(TASK_COUNTS_KEY, (task.name, outcome)) if outcome else None,
            histogram=(TASK_RUNTIME_KEY, (task.name,), time.monotonic() - started, TASK_RUNTIME_BUCKETS)
            if started is not None
            else None,
        )
    )


def _outcome_counter(state: str):
    def on_outcome(sender=None, **_kwargs):
        task_id = sender.request.id
        if task_id in _task_started_at:  # running here: postrun counts it
            _task_outcome[task_id] = state
        else:
            task_count(task_name=sender.name, state=state)

    return on_outcome


_on_success = _outcome_counter("succeeded")
_on_failure = _outcome_counter("failed")
_on_retry = _outcome_counter("retried")


def _on_revoked(sender=None, **_kwargs):
    task_count(task_name=sender.name, state="revoked")


def task_signals_connect() -> None:
    """Count task outcomes in this worker; called once at worker start, before the pool forks."""
    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
    signals.task_success.connect(_on_success, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)
    signals.task_retry.connect(_on_retry, weak=False)
    signals.task_revoked.connect(_on_revoked, weak=False)
    signals.worker_process_shutdown.connect(_flush, weak=False)


# --- Reading: everything is computed at scrape time ------------------------------------------------------
def _split(fields: dict[bytes, bytes]) -> Iterator[tuple[list[str], str]]:
    for field, value in fields.items():
        yield field.decode().split(SEPARATOR), value.decode()


def _histogram(name: str, documentation: str, labels: list[str], fields: dict, buckets: Iterable[float]) -> Metric:
    family = HistogramMetricFamily(name, documentation, labels=labels)
    series: dict[tuple[str, ...], dict[str, float]] = {}
    for parts, value in _split(fields):
        series.setdefault(tuple(parts[:-1]), {})[parts[-1]] = float(value)
    for label_values, observed in sorted(series.items()):
        running, cumulative = 0.0, []
        for bound in [str(b) for b in buckets] + ["+Inf"]:
            running += observed.get(bound, 0.0)
            cumulative.append((bound, running))
        family.add_metric(list(label_values), cumulative, observed.get("sum", 0.0))
    return family


FAILED = object()
COUNTED_KEYS = (TASK_COUNTS_KEY, TASK_RUNTIME_KEY, REQUEST_COUNTS_KEY, REQUEST_LATENCY_KEY)


def _counted_families(counts: dict[str, dict]) -> Iterator[Metric]:
    tasks = CounterMetricFamily(
        "celery_tasks", "Task outcomes by task name and state, counted by every worker.", labels=["task", "state"]
    )
    for (task_name, state), value in sorted(_split(counts[TASK_COUNTS_KEY])):
        tasks.add_metric([task_name, state], float(value))
    yield tasks
    yield _histogram(
        "celery_task_runtime_seconds",
        "Time a task spent running in a worker.",
        ["task"],
        counts[TASK_RUNTIME_KEY],
        TASK_RUNTIME_BUCKETS,
    )
    requests = CounterMetricFamily(
        "http_requests", "HTTP responses by method, view and status.", labels=["method", "view", "status"]
    )
    for (method, view, status), value in sorted(_split(counts[REQUEST_COUNTS_KEY])):
        requests.add_metric([method, view, status], float(value))
    yield requests
    yield _histogram(
        "http_request_duration_seconds",
        "Time from request to response in Django.",
        ["method", "view"],
        counts[REQUEST_LATENCY_KEY],
        REQUEST_LATENCY_BUCKETS,
    )


def _per_queue(name: str, documentation: str, values: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=["queue"])
    for queue, value in sorted(values.items()):
        family.add_metric([queue], value)
    return family


class ProjectCollector:
    """Reads everything at scrape time; a part that does not answer drops its metrics and shows in
    app_probe_up instead of failing the whole scrape."""

    def collect(self) -> Iterator[Metric]:
        from core.models import DeadLetter, OutboxMessage
        from core.operations.health import beat_heartbeat_age, queue_depths, workers_seen

        probe_up = GaugeMetricFamily("app_probe_up", "1 when this part answered the scrape.", labels=["probe"])

        def probe(name, read):
            try:
                value = read()
            except Exception as exc:
                logger.warning("metrics probe %s failed: %r", name, exc)
                probe_up.add_metric([name], 0)
                return FAILED
            probe_up.add_metric([name], 1)
            return value

        counts = probe("redis", lambda: {key: redis_client().hgetall(key) for key in COUNTED_KEYS})
        if counts is not FAILED:
            yield from _counted_families(counts)
        depths = probe("broker", queue_depths)
        if depths is not FAILED:
            yield _per_queue("celery_queue_length", "Messages waiting in each queue.", depths)
        yield _per_queue(
            "celery_queue_length_threshold",
            "Queue depth above which check_queues reports.",
            settings.QUEUE_DEPTH_THRESHOLDS,
        )
        workers = probe("workers", workers_seen)
        if workers is not FAILED:
            yield GaugeMetricFamily("celery_workers_up", "Workers whose heartbeat is fresh.", value=len(workers))
        age = probe("beat", beat_heartbeat_age)
        if age is not FAILED:  # +Inf when beat wrote no heartbeat lately (the key expires), so alerts fire
            yield GaugeMetricFamily(
                "celery_beat_heartbeat_age_seconds",
                "Seconds since beat's last heartbeat.",
                value=float("inf") if age is None else age,
            )
        rows = probe(
            "database",
            lambda: (
                DeadLetter.objects.filter(resolved_at__isnull=True).count(),
                OutboxMessage.objects.filter(published_at__isnull=True).count(),
            ),
        )
        if rows is not FAILED:
            open_dead_letters, unpublished = rows
            yield GaugeMetricFamily(
                "celery_dead_letters_open", "Tasks that gave up, unresolved.", value=open_dead_letters
            )
            yield GaugeMetricFamily(
                "outbox_unpublished_messages", "Task messages not on the broker yet.", value=unpublished
            )
        yield probe_up


registry = CollectorRegistry(auto_describe=False)
registry.register(ProjectCollector())


@never_cache
@require_GET
def metrics_view(request):
    """Prometheus' scrape target; only for whoever holds METRICS_TOKEN, and absent when it is unset."""
    refusal = bearer_token_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def bearer_token_refusal(request) -> HttpResponse | None:
    """None when the request carries METRICS_TOKEN as its bearer token, else the answer refusing it."""
    if not settings.METRICS_TOKEN:
        raise Http404
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        response = HttpResponse("Bearer token required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(token.encode(), settings.METRICS_TOKEN.encode()):
        return HttpResponse("Wrong token.\n", status=403, content_type="text/plain")
    return None
