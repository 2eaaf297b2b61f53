"""Reads for finance: an order's charge, the day's paid orders, exchange rates."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, QuerySet
from django.utils import timezone

from core.money import money_sum
from finance.models import Charge, ExchangeRate


def charge_for_order(*, order_id: int) -> Charge | None:
    """The order's current charge: the live one if any, else the latest declined one."""
    charges = Charge.objects.filter(order_id=order_id)
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


def paid_order_id_ranges(*, day: date, chunk_size: int) -> list[tuple[int, int]]:
    """(first, last) order id of each chunk of `chunk_size` orders paid on `day`; a day without sales still
    gets one range, which matches nothing, so its report goes out."""
    order_ids = paid_order_ids_on(day=day)
    chunks = [order_ids[start : start + chunk_size] for start in range(0, len(order_ids), chunk_size)]
    return [(chunk[0], chunk[-1]) for chunk in chunks] or [(0, 0)]


def revenue_of_paid_orders(*, day: date, first_order_id: int, last_order_id: int) -> tuple[int, Decimal]:
    """Count and amount collected, in cents, of the orders paid on `day` with ids in [first, last]: the sum of
    their succeeded charges, each the order's total when it was charged."""
    start, end = day_bounds(day)
    paid = Charge.objects.filter(
        status=Charge.Status.SUCCEEDED,
        succeeded_at__gte=start,
        succeeded_at__lt=end,
        order_id__gte=first_order_id,
        order_id__lte=last_order_id,
    ).aggregate(orders=Count("order_id"), revenue=money_sum(F("amount")))
    return paid["orders"], paid["revenue"]


def latest_rates() -> QuerySet[ExchangeRate]:
    """The rates of the newest feed date stored."""
    newest = ExchangeRate.objects.order_by("-date").values_list("date", flat=True).first()
    return ExchangeRate.objects.filter(date=newest)
