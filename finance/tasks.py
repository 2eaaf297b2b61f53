"""Celery interfaces for finance: take IDs, call one service; retries, locks and the report chord live here."""

import logging
from datetime import date, timedelta

from celery import chord
from django.utils import timezone

from core.tasking.locks import nonoverlapping
from core.tasking.policy import BULK, EMAIL, REMOTE_CALL, project_task
from finance import selectors, services

logger = logging.getLogger(__name__)

# Paid orders summed per header task (their succeeded charges). Measured on PostgreSQL on the shared 2-core dev
# machine, 5 chunks of 1,000 charges: 4.5-22 ms a chunk (median 9 ms) while other suites held the load at 12,
# so an upper bound; a chunk costs about what the task message around it does.
REVENUE_REPORT_CHUNK_SIZE = 1_000
EXCHANGE_RATES_LOCK_SECONDS = 120  # above the task's hard limit, so a lock outlives only a dead holder


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
    ranges = selectors.paid_order_id_ranges(day=report_day, chunk_size=REVENUE_REPORT_CHUNK_SIZE)
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
