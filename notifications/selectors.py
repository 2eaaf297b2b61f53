"""Reads for notifications: who receives mail, what the digest says, and how far a newsletter got."""

from dataclasses import dataclass
from datetime import date

from django.core import signing
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core.exceptions import ProjectError
from core.models import Job
from core.tasking.jobs import latest_job
from notifications.models import Delivery, Newsletter, Subscriber
from orders.models import Product

DIGEST_PRODUCT_COUNT = 5
# The fan-out task, by its registered name (tests/notifications check it against the task).
SEND_NEWSLETTER_TASK = "notifications.send_newsletter"


def subscribers_receiving_mail() -> QuerySet[Subscriber]:
    return Subscriber.objects.filter(opted_in_at__isnull=False, unsubscribed_at__isnull=True)


@dataclass(frozen=True)
class DigestContent:
    day: date
    products: list[Product]
    products_in_stock: int


def digest_content(*, day: date) -> DigestContent:
    """The shop's newest products and how many are in stock: small, and true on the day it is sent."""
    in_stock = Product.objects.filter(stock__gt=0)
    return DigestContent(
        day=day, products=list(in_stock.order_by("-id")[:DIGEST_PRODUCT_COUNT]), products_in_stock=in_stock.count()
    )


@dataclass(frozen=True)
class NewsletterProgress:
    status: str
    sent: int
    failed: int
    skipped: int  # will not be sent: unsubscribed since the fan-out, or stopped by a cancel
    total: int
    percent: int  # of the recipients handled (sent, refused, unsubscribed): a cancel stops the bar where it was
    rate_per_second: float
    seconds_left: int | None
    job_note: str  # what the sending job says when it is not simply under way: waiting, retrying, failed


def newsletter_progress(*, newsletter: Newsletter) -> NewsletterProgress:
    """Counts come from the delivery rows, so they are exact however many batches run at once; the sending
    job's state from its job rows."""
    newsletter.refresh_from_db(fields=["status", "total", "started_at", "finished_at"])
    counts = Delivery.objects.filter(newsletter=newsletter).aggregate(
        sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
        failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
        unsubscribed=Count("id", filter=Q(status=Delivery.Status.SKIPPED)),
        cancelled=Count("id", filter=Q(status=Delivery.Status.CANCELLED)),
    )
    total = newsletter.total
    handled = counts["sent"] + counts["failed"] + counts["unsubscribed"]
    if newsletter.status == Newsletter.Status.CANCELLED:
        skipped = max(0, total - counts["sent"] - counts["failed"])  # queued ones are cancelled as batches run
    else:
        skipped = counts["unsubscribed"] + counts["cancelled"]
    percent = min(100, round(100 * handled / total)) if total else 100
    rate = 0.0
    if newsletter.started_at and handled:
        elapsed = ((newsletter.finished_at or timezone.now()) - newsletter.started_at).total_seconds()
        rate = handled / elapsed if elapsed > 0 else 0.0
    if newsletter.status != Newsletter.Status.SENDING:
        seconds_left = 0 if newsletter.status != Newsletter.Status.DRAFT else None
    else:
        seconds_left = round(max(0, total - handled) / rate) if rate else None
    return NewsletterProgress(
        status=newsletter.status,
        sent=counts["sent"],
        failed=counts["failed"],
        skipped=skipped,
        total=total,
        percent=percent,
        rate_per_second=round(rate, 1),
        seconds_left=seconds_left,
        job_note=_sending_job_note(newsletter) if newsletter.status == Newsletter.Status.SENDING else "",
    )


def _sending_job_note(newsletter: Newsletter) -> str:
    """The fan-out job while it has not handed out its batches, then any batch that failed or retries."""
    fan_out = latest_job(newsletter, SEND_NEWSLETTER_TASK)
    if fan_out is None:
        return ""
    if fan_out.state == Job.State.QUEUED:
        return "Waiting for a worker."
    if fan_out.state == Job.State.RETRYING:
        return f"Retrying (attempt {fan_out.attempt}): {fan_out.error}"
    if fan_out.state == Job.State.FAILED:
        return f"Failed: {fan_out.error}"
    batches = fan_out.children.exclude(state__in=[Job.State.SUCCEEDED, Job.State.CANCELLED])
    failed = batches.filter(state=Job.State.FAILED).first()
    if failed is not None:
        return f"{batches.filter(state=Job.State.FAILED).count()} batch(es) failed: {failed.error}"
    retrying = batches.filter(state=Job.State.RETRYING).first()
    return f"A batch is retrying (attempt {retrying.attempt}): {retrying.error}" if retrying else ""


# Signed, not stored: the link is tamper-proof without a token column, and never expires, as RFC 8058 expects.
UNSUBSCRIBE_SALT = "notifications.unsubscribe"


def subscriber_by_unsubscribe_token(*, token: str) -> Subscriber:
    """The subscriber a genuine unsubscribe token names; ProjectError for a forged or mangled one."""
    try:
        subscriber_id = int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
        return Subscriber.objects.get(pk=subscriber_id)
    except (signing.BadSignature, ValueError, Subscriber.DoesNotExist) as exc:
        raise ProjectError("This unsubscribe link is not valid. Please use the link from your latest email.") from exc
