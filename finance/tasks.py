"""Celery interfaces for finance: take IDs, call one service; retries, locks and the report chord live here."""

import logging
from datetime import date, timedelta

from celery import chord
from django.utils import timezone

from core.locks import nonoverlapping
from core.tasking import BULK, EMAIL, REMOTE_CALL, load_or_skip, project_task
from finance import selectors, services
from orders.models import Order

logger = logging.getLogger(__name__)

# Paid orders summed per header task. Measured on PostgreSQL on the shared 2-core dev machine, 5 chunks of
# 1,000 orders with 2 items each: 4.5 ms a chunk, so a chunk costs less than the task message around it.
REVENUE_REPORT_CHUNK_SIZE = 1_000
EXCHANGE_RATES_LOCK_SECONDS = 120  # above the task's hard limit, so a lock outlives only a dead holder


@project_task("finance.charge_customer", REMOTE_CALL, subject="orders.Order", ignore_result=False)
def charge_customer(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        services.charge_execute(order_id=order_id)


@project_task("finance.sync_exchange_rates", REMOTE_CALL)
def sync_exchange_rates(url: str | None = None) -> None:
    """`url` overrides EXCHANGE_RATES_URL, e.g. a mirror set in the periodic task's kwargs in admin."""
    with nonoverlapping("finance.sync_exchange_rates", timeout=EXCHANGE_RATES_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("exchange-rate sync already running, this run skipped")
            return
        services.exchange_rates_sync(url=url)


# A fan-out that reads only the day's order ids: a minute is ample, so it keeps the limits it always had.
@project_task("finance.daily_revenue_report", BULK, soft_time_limit=50, time_limit=60)
def daily_revenue_report(day: str | None = None) -> None:
    """Fan out one sum per chunk of the day's paid orders (yesterday by default); the callback emails the CSV."""
    report_day = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    order_ids = selectors.paid_order_ids_on(day=report_day)
    chunks = [
        order_ids[start : start + REVENUE_REPORT_CHUNK_SIZE]
        for start in range(0, len(order_ids), REVENUE_REPORT_CHUNK_SIZE)
    ]
    # A day without sales still gets its report: one chunk that matches nothing.
    ranges = [(chunk[0], chunk[-1]) for chunk in chunks] or [(0, 0)]
    header = [sum_revenue_chunk.s(report_day.isoformat(), first, last) for first, last in ranges]
    chord(header)(email_revenue_report.s(report_day.isoformat()))


# The chord callback reads these results from the result backend.
@project_task("finance.sum_revenue_chunk", BULK, ignore_result=False)
def sum_revenue_chunk(day: str, first_order_id: int, last_order_id: int) -> dict:
    return services.revenue_chunk_sum(
        day=date.fromisoformat(day), first_order_id=first_order_id, last_order_id=last_order_id
    )


@project_task("finance.email_revenue_report", EMAIL)
def email_revenue_report(chunk_totals: list[dict], day: str) -> None:
    services.revenue_report_send(day=date.fromisoformat(day), chunk_totals=chunk_totals)
