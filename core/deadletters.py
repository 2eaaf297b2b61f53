"""Dead letters: record a task that gave up, retry it with the same arguments, or mark it resolved."""

import logging

from django.db import transaction
from django.utils import timezone

from core import outbox
from core.models import DeadLetter

logger = logging.getLogger(__name__)


def dead_letter_record(
    *, task_id: str, task_name: str, queue: str, args: list, kwargs: dict, exception: str, traceback: str,
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


@transaction.atomic
def dead_letter_retry(*, letter: DeadLetter) -> str:
    """Enqueue the task again with the same arguments; returns the new task id."""
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
