"""Dead letters: record a task that gave up or a message no worker could read, retry a task with the same
arguments, or mark either resolved."""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from core.exceptions import ProjectError
from core.models import DeadLetter
from core.tasking import outbox

logger = logging.getLogger(__name__)


def dead_letter_record(
    *,
    task_id: str,
    task_name: str,
    queue: str,
    args: list,
    kwargs: dict,
    exception: str,
    traceback: str,
    attempts: int,
) -> DeadLetter:
    letter, _ = DeadLetter.objects.update_or_create(
        task_id=task_id,
        defaults={
            "task_name": task_name,
            "queue": queue,
            "args": args,
            "kwargs": kwargs,
            "exception": exception,
            "traceback": traceback,
            "attempts": attempts,
            "resolved_at": None,
        },
    )
    logger.error("task %s[%s] gave up after %d attempt(s): %s", task_name, task_id, attempts, exception)
    return letter


def dead_letter_record_malformed(
    *,
    task_name: str,
    queue: str,
    problem: str,
    traceback: str,
    raw_headers: str,
    raw_body: str,
    content_type: str,
    content_encoding: str,
) -> DeadLetter:
    """Keep a message the worker acknowledged without running it, as it arrived."""
    letter = DeadLetter.objects.create(
        # Its own id, if any, is not trusted to be unique or even a string; it stays readable in raw_headers.
        task_id=f"malformed-{uuid.uuid4()}",
        task_name=task_name[:200],
        queue=queue[:50],
        exception=problem,
        traceback=traceback,
        malformed=True,
        raw_headers=raw_headers,
        raw_body=raw_body,
        content_type=content_type[:200],
        content_encoding=content_encoding[:200],
    )
    logger.error("unreadable message on queue %s dead-lettered as %s: %s", queue, letter.pk, problem)
    return letter


@transaction.atomic
def dead_letter_retry(*, letter: DeadLetter) -> str:
    """Enqueue the task again with the same arguments; returns the new task id."""
    if letter.malformed:
        raise ProjectError("An unreadable message has no arguments to run again; read it and resolve it.")
    task_id = outbox.enqueue_by_name(
        task_name=letter.task_name, queue=letter.queue, args=letter.args, kwargs=letter.kwargs
    )
    letter.retried_at = timezone.now()
    letter.resolved_at = letter.retried_at
    letter.save(update_fields=["retried_at", "resolved_at"])
    return task_id


def dead_letter_resolve(*, letter: DeadLetter) -> None:
    letter.resolved_at = timezone.now()
    letter.save(update_fields=["resolved_at"])
