"""The transactional outbox: task messages are rows written with the change that needs them, published
after commit, and relayed later when the broker was down at commit time."""

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache, partial

import sentry_sdk
from celery import Task
from celery import current_app as app
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError
from kombu.pools import producers
from opentelemetry import context, propagate, trace

from core.database import bookkeeping_update
from core.models import OutboxMessage
from core.tasking import jobs

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# How many unpublished rows the relay locks and sends per round; one publish costs about 1 ms.
RELAY_BATCH_SIZE = 200
# Rows younger than this are left to their own on-commit publish, so the relay rarely races it.
RELAY_GRACE = timedelta(seconds=2)
PUBLISHED_RETENTION = timedelta(days=7)


def enqueue(task: Task, *args, **kwargs) -> str:
    """Write the task message in the current transaction and publish it once that transaction commits.

    Returns the task id (the outbox row's id), so the caller can log it and show it."""
    return enqueue_by_name(task_name=task.name, queue=task.queue, args=list(args), kwargs=kwargs)


def enqueue_by_name(
    *, task_name: str, queue: str, args: list, kwargs: dict, eta: datetime | None = None, priority: int | None = None
) -> str:
    """`eta`: not before then; the caller keeps it below the visibility timeout. `priority`: the broker's, None
    for none (core.tasking.django_tasks maps a Django priority onto it)."""
    with tracer.start_as_current_span(f"outbox enqueue {task_name}", kind=trace.SpanKind.PRODUCER) as span:
        trace_context = _trace_headers()
        message = OutboxMessage.objects.create(
            task_name=task_name,
            queue=queue,
            args=args,
            kwargs=kwargs,
            eta=eta,
            priority=priority,
            trace_context=trace_context,
        )
        span.set_attribute("messaging.message.id", str(message.pk))
        trace_id = format(span.get_span_context().trace_id, "032x") if span.get_span_context().is_valid else ""
        jobs.job_queued(task_id=str(message.pk), task_name=task_name, args=args, kwargs=kwargs, trace_id=trace_id)
    # Sent from memory right after commit: no reread, no row lock. The relay leaves rows younger than
    # RELAY_GRACE alone, and should it still race this publish, both carry the same task id.
    transaction.on_commit(partial(_send, message))
    logger.info("enqueued %s as task %s", task_name, message.pk)
    return str(message.pk)


def relay_pending(*, older_than: timedelta = RELAY_GRACE) -> int:
    """Publish one batch of messages whose on-commit publish failed; returns how many were sent."""
    sent = 0
    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.select_for_update(skip_locked=True).filter(
                published_at__isnull=True, created_at__lte=timezone.now() - older_than
            )[:RELAY_BATCH_SIZE]
        )
        for message in batch:
            if not _send(message):
                break  # broker still down: leave the rest for the next round
            sent += 1
    return sent


def purge_published() -> int:
    deleted, _ = OutboxMessage.objects.filter(published_at__lt=timezone.now() - PUBLISHED_RETENTION).delete()
    return deleted


# A click waits at most this long on a frozen Redis broker (a healthy one answers in about a millisecond); a
# publish that gives up only hands its row to the relay, and one that went through anyway is absorbed as a
# copy. RabbitMQ ignores these options and keeps CELERY_BROKER_CONNECTION_TIMEOUT.
PUBLISH_TIMEOUT_SECONDS = 0.5


@cache
def _fail_fast_connection(broker_url: str):
    """The outbox's own broker connection: one attempt, no back-off. A click must not wait on a broker that
    is down (kombu's default retries for CELERY_BROKER_CONNECTION_TIMEOUT) or frozen; the row is safe and
    the relay sends it when the broker is back."""
    options = {
        **app.conf.broker_transport_options,
        "max_retries": 0,  # kombu counts retries after the first attempt
        "interval_start": 0,
        "socket_timeout": PUBLISH_TIMEOUT_SECONDS,
        "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
    }
    return app.connection_for_write(broker_url, transport_options=options)


def _trace_headers() -> dict:
    """The current trace as headers: W3C traceparent (empty when tracing is off), and Sentry's when it is on."""
    headers: dict = {}
    propagate.inject(headers)
    if sentry_sdk.get_client().is_active():
        headers.update(sentry_sdk.get_current_scope().iter_trace_propagation_headers())
    return headers


@contextmanager
def _trace_restored(headers: dict):
    """Publish inside the trace the message was enqueued in: on commit that is still the click's, but the relay
    publishes from a process of its own, seconds or hours later."""
    token = context.attach(propagate.extract(headers)) if headers else None
    try:
        if headers.get("sentry-trace") and sentry_sdk.get_client().is_active():
            transaction = sentry_sdk.continue_trace(headers, op="queue.publish", name="outbox publish")
            with sentry_sdk.start_transaction(transaction):
                yield
        else:
            yield
    finally:
        if token is not None:
            context.detach(token)


def _send(message: OutboxMessage) -> bool:
    try:
        with (
            _trace_restored(message.trace_context),
            producers[_fail_fast_connection(app.conf.broker_write_url or app.conf.broker_url)].acquire(
                block=True, timeout=5
            ) as producer,
        ):
            app.send_task(
                message.task_name,
                args=message.args,
                kwargs=message.kwargs,
                task_id=str(message.pk),
                queue=message.queue,
                eta=message.eta,
                priority=message.priority,
                retry=False,
                producer=producer,
                headers={jobs.RECORDED_HEADER: True},
            )
    except (OperationalError, OSError) as exc:
        _mark(message, attempts=F("attempts") + 1, last_error=repr(exc))
        logger.warning("broker refused %s, left for the relay: %r", message, exc)
        return False
    _mark(message, attempts=F("attempts") + 1, published_at=timezone.now())
    return True


def _mark(message: OutboxMessage, **fields) -> None:
    """One UPDATE. On PostgreSQL its commit does not wait for the disk: a mark lost in a crash only makes
    the relay publish the message again, which the outbox id as task id and idempotent tasks absorb."""
    bookkeeping_update(OutboxMessage.objects.filter(pk=message.pk), **fields)
