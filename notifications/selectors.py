"""Reads for notifications: who receives mail, what the digest says, and how far a newsletter got."""

from dataclasses import dataclass
from datetime import date

from django.core import signing
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from core.exceptions import ProjectError
from notifications.models import Delivery, Newsletter, Subscriber
from orders.models import Product

DIGEST_PRODUCT_COUNT = 5


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
    total: int
    percent: int
    rate_per_second: float
    seconds_left: int | None


def newsletter_progress(*, newsletter: Newsletter) -> NewsletterProgress:
    """Counts come from the delivery rows, so they are exact however many batches run at once."""
    newsletter.refresh_from_db(fields=["status", "total", "started_at", "finished_at"])
    counts = Delivery.objects.filter(newsletter=newsletter).aggregate(
        sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
        failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
        done=Count("id", filter=~Q(status=Delivery.Status.QUEUED)),
    )
    total = newsletter.total
    percent = min(100, round(100 * counts["done"] / total)) if total else 100
    rate = 0.0
    if newsletter.started_at and counts["done"]:
        elapsed = ((newsletter.finished_at or timezone.now()) - newsletter.started_at).total_seconds()
        rate = counts["done"] / elapsed if elapsed > 0 else 0.0
    remaining = max(0, total - counts["done"])
    if newsletter.status != Newsletter.Status.SENDING:
        seconds_left = 0 if newsletter.status != Newsletter.Status.DRAFT else None
    else:
        seconds_left = round(remaining / rate) if rate else None
    return NewsletterProgress(
        status=newsletter.status,
        sent=counts["sent"],
        failed=counts["failed"],
        total=total,
        percent=percent,
        rate_per_second=round(rate, 1),
        seconds_left=seconds_left,
    )


# Signed, not stored: the link is tamper-proof without a token column, and never expires, as RFC 8058 expects.
UNSUBSCRIBE_SALT = "notifications.unsubscribe"


def subscriber_by_unsubscribe_token(*, token: str) -> Subscriber:
    """The subscriber a genuine unsubscribe token names; ProjectError for a forged or mangled one."""
    try:
        subscriber_id = int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
        return Subscriber.objects.get(pk=subscriber_id)
    except (signing.BadSignature, ValueError, Subscriber.DoesNotExist) as exc:
        raise ProjectError("This unsubscribe link is not valid. Please use the link from your latest email.") from exc
