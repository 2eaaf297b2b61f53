"""Health: heartbeats written by workers and beat; the web probe behind /healthz (this process's own
dependencies only), and the whole-system report behind /healthz/system (no worker round trip: it reads
heartbeats from Redis and queue depths from the broker)."""

import contextlib
import json
import logging
import os
import socket
import time
from pathlib import Path

from celery import bootsteps
from celery import current_app as app
from django.conf import settings
from django.db import connection

from core.redis import redis_client

logger = logging.getLogger(__name__)

WORKER_KEY_PREFIX = "health:worker:"
BEAT_KEY = "health:beat"
# Container liveness probes read these files' age; HEARTBEAT_DIR separates processes sharing one host.
HEARTBEAT_FILE_DIR = Path(os.environ.get("HEARTBEAT_DIR", "/tmp"))


def heartbeat_file(process: str) -> Path:
    return HEARTBEAT_FILE_DIR / f"{process}-heartbeat-{socket.gethostname()}"


def record_heartbeat(key: str, process: str, *, queues: list[str] | None = None) -> None:
    """The file first: it tells a liveness probe that this process's loop runs, which a Redis outage does not
    change (a probe that failed with Redis would have every worker restarted for nothing); the Redis key tells
    the rest of the system."""
    heartbeat_file(process).touch()
    now = time.time()
    value = now if queues is None else json.dumps({"at": now, "queues": queues})
    redis_client().set(key, value, ex=settings.HEARTBEAT_INTERVAL_SECONDS * 3)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the worker's name and the queues it consumes to Redis every few seconds while it runs."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.timer_ref = None

    def start(self, worker):
        self.key = WORKER_KEY_PREFIX + worker.hostname
        self.queues = sorted(worker.app.amqp.queues.consume_from)
        self.timer_ref = worker.timer.call_repeatedly(settings.HEARTBEAT_INTERVAL_SECONDS, self.beat, priority=10)
        self.beat()

    def beat(self):
        with contextlib.suppress(Exception):  # a Redis blip must not take the worker down; the next beat tries again
            record_heartbeat(self.key, "worker", queues=self.queues)

    def stop(self, worker):
        if self.timer_ref is not None:
            self.timer_ref.cancel()
        with contextlib.suppress(Exception):
            redis_client().delete(self.key)


def beat_heartbeat_age() -> float | None:
    value = redis_client().get(BEAT_KEY)
    return None if value is None else max(0.0, time.time() - float(value))


# A page asks this on every poll: a frozen Redis may cost it this long, not a whole second.
WORKER_ALIVE_READ_TIMEOUT_SECONDS = 0.2


def worker_alive(hostname: str) -> bool:
    """True while the worker's heartbeat is fresh; raises redis.RedisError when Redis cannot say."""
    return bool(redis_client(timeout=WORKER_ALIVE_READ_TIMEOUT_SECONDS).exists(WORKER_KEY_PREFIX + hostname))


def workers_seen() -> list[str]:
    return sorted(worker_queues())


def worker_queues() -> dict[str, list[str]]:
    """Each live worker's name and the queues it consumes."""
    client = redis_client()
    keys = list(client.scan_iter(match=WORKER_KEY_PREFIX + "*", count=100))
    values = client.mget(keys) if keys else []
    return {
        key.decode().removeprefix(WORKER_KEY_PREFIX): json.loads(value)["queues"]
        for key, value in zip(keys, values, strict=True)
        if value is not None  # expired between the scan and the read
    }


def queue_depths() -> dict[str, int]:
    depths = {}
    # One connection attempt: a probe reports a down broker at once instead of retrying it (kombu's default).
    options = {**app.conf.broker_transport_options, "max_retries": 0}
    with app.connection_for_read(transport_options=options) as conn:
        channel = conn.default_channel
        # AMQP answers for an existing queue without touching it; Redis keeps no queue when it is empty,
        # so a passive declare there would fail on an empty queue.
        passive = conn.transport.driver_type == "amqp"
        for queue in app.conf.task_queues:
            depths[queue.name] = channel.queue_declare(queue=queue.name, passive=passive).message_count
    return depths


def web_health() -> bool:
    """What a load balancer needs to know about this web process: can it serve pages? Only the database is
    required. Not the cache: pages serve without it, and a frozen one would hold each probe for its timeout,
    longer than a probe waits. Nor workers, beat or the broker: one dead beat must not take every web
    container out of rotation."""
    try:
        _database()
    except Exception:
        logger.exception("healthz: the database does not answer")
        return False
    return True


def system_report() -> tuple[bool, dict]:
    """Everything an operator checks first; healthy only when every part answers and every queue has a
    consumer."""
    report: dict = {"failed": []}

    def check(name, probe):
        try:
            report[name] = probe()
        except Exception as exc:
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            report["failed"].append(name)

    check("database", _database)
    check("redis", lambda: "ok" if redis_client().ping() else "no answer")
    check("queues", queue_depths)
    report["broker"] = "error" if "queues" in report["failed"] else "ok"
    if report["broker"] == "error":
        report["failed"].append("broker")
    if "redis" in report["failed"]:
        # Heartbeats live in that Redis: asking again would only add a timeout per probe to the answer.
        report["failed"] += ["workers", "beat"]
    else:
        check("workers", worker_queues)
        if "workers" not in report["failed"]:
            if not report["workers"]:
                report["failed"].append("workers")
            consumed = {queue for queues in report["workers"].values() for queue in queues}
            # Tasks routed to a queue nobody consumes wait there forever, however healthy the other workers are.
            report["queues_without_consumer"] = [
                queue.name for queue in app.conf.task_queues if queue.name not in consumed
            ]
            if report["queues_without_consumer"]:
                report["failed"].append("queues_without_consumer")
        check("beat_heartbeat_age_seconds", beat_heartbeat_age)
        age = report.get("beat_heartbeat_age_seconds")
        if "beat_heartbeat_age_seconds" not in report["failed"] and (
            age is None or age > settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS
        ):
            report["failed"].append("beat")
    report["status"] = "ok" if not report["failed"] else "failing"
    return not report["failed"], report


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"
