"""Celery interfaces for notifications: a fan-out task writes the deliveries, then a group of batch tasks sends them."""

from datetime import date

from celery import group
from django.utils import timezone

from core.tasking.jobs import job_cancelled
from core.tasking.policy import BULK, load_or_skip, project_task
from notifications import services
from notifications.models import Newsletter

# Batches go to the bulk queue so a large newsletter never delays an invoice email on the email queue.


@project_task("notifications.send_daily_digest", BULK)
def send_daily_digest(day: str | None = None) -> int:
    """Beat runs it at 08:00 with no argument: the digest of today in the project's time zone."""
    digest_day = date.fromisoformat(day) if day else timezone.localdate()
    batches = services.digest_recipients_queue(day=digest_day)
    group(send_digest_batch.si(digest_day.isoformat(), ids) for ids in batches).apply_async()
    return len(batches)


@project_task("notifications.send_digest_batch", BULK)
def send_digest_batch(day: str, subscriber_ids: list[int]) -> None:
    services.digest_batch_send(day=date.fromisoformat(day), subscriber_ids=subscriber_ids)


@project_task("notifications.send_newsletter", BULK, subject="notifications.Newsletter", ignore_result=False)
def send_newsletter(newsletter_id: int) -> int:
    if not load_or_skip(Newsletter, newsletter_id):
        return 0
    batches = services.newsletter_recipients_queue(newsletter_id=newsletter_id)
    group(send_newsletter_batch.si(newsletter_id, ids) for ids in batches).apply_async()
    return len(batches)


@project_task("notifications.send_newsletter_batch", BULK, subject="notifications.Newsletter")
def send_newsletter_batch(newsletter_id: int, subscriber_ids: list[int]) -> None:
    if load_or_skip(Newsletter, newsletter_id):
        result = services.newsletter_batch_send(newsletter_id=newsletter_id, subscriber_ids=subscriber_ids)
        if result.cancelled:
            job_cancelled(f"newsletter cancelled, {result.cancelled} of this batch not sent")
