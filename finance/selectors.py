"""Reads for finance: an order's charge, the day's paid orders, exchange rates."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from finance.models import Charge, ExchangeRate
from orders.models import Order, OrderItem


def charge_for_order(*, order: Order) -> Charge | None:
    """The order's current charge: the live one if any, else the latest declined one."""
    charges = Charge.objects.filter(order=order)
    return charges.exclude(status=Charge.Status.FAILED).first() or charges.first()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in the shop's time zone."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def paid_order_ids_on(*, day: date) -> list[int]:
    """Orders whose charge succeeded on `day`, by id."""
    start, end = day_bounds(day)
    return list(
        Charge.objects.filter(status=Charge.Status.SUCCEEDED, succeeded_at__gte=start, succeeded_at__lt=end)
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )


def revenue_of_paid_orders(*, day: date, first_order_id: int, last_order_id: int) -> tuple[int, Decimal]:
    """Count and item total, in cents, of the orders paid on `day` with ids in [first, last]."""
    start, end = day_bounds(day)
    order_ids = Charge.objects.filter(
        status=Charge.Status.SUCCEEDED,
        succeeded_at__gte=start,
        succeeded_at__lt=end,
        order_id__gte=first_order_id,
        order_id__lte=last_order_id,
    ).values("order_id")
    return order_ids.count(), OrderItem.objects.filter(order_id__in=order_ids).total()


def latest_rates() -> QuerySet[ExchangeRate]:
    """The rates of the newest feed date stored."""
    newest = ExchangeRate.objects.order_by("-date").values_list("date", flat=True).first()
    return ExchangeRate.objects.filter(date=newest)
