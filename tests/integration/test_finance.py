"""Finance on a real worker process: a charge, the exchange-rate sync from a local feed, and the revenue
report chord whose CSV arrives at the SMTP sink."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.tasking.outbox import enqueue
from finance import tasks
from finance.models import Charge, ExchangeRate
from orders import pipeline
from orders import tasks as order_tasks
from orders.models import Order
from tests.factories import OrderFactory
from tests.finance.factories import PaidChargeFactory
from tests.finance.gateways import debits_of
from tests.support.feeds import FeedServer
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_queued_charge_is_executed_once_by_the_worker(live_worker):
    order = OrderFactory()

    with transaction.atomic():
        charge = pipeline.order_charge_request(order=order)
        task_ids = [enqueue(order_tasks.charge_order, order.pk) for _ in range(2)]  # a double click

    wait_until(
        lambda: Charge.objects.get(pk=charge.pk).status == Charge.Status.SUCCEEDED,
        60,
        "charge never succeeded",
        live_worker,
    )
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    wait_until(
        lambda: all(f"orders.charge_order[{task_id}] succeeded" in live_worker.output() for task_id in task_ids),
        30,
        "second delivery never ran",
        live_worker,
    )
    assert len(debits_of(order)) == 1


def test_the_worker_syncs_rates_from_a_feed(live_worker):
    server = FeedServer()
    try:
        tasks.sync_exchange_rates.delay(url=server.url)
        wait_until(
            lambda: ExchangeRate.objects.filter(date="2026-11-20").count() == 4, 60, "rates never stored", live_worker
        )
    finally:
        server.stop()
    assert ExchangeRate.objects.get(currency="USD", date="2026-11-20").rate == Decimal("1.0812")


def test_the_revenue_report_chord_emails_the_csv(live_worker, mailsink):
    for _ in range(3):
        PaidChargeFactory(succeeded_at=timezone.now() - timedelta(days=1))
    yesterday = timezone.localdate() - timedelta(days=1)

    tasks.daily_revenue_report.delay()

    staff = settings.STAFF_REPORT_EMAILS[0]  # the worker reads the same environment
    [message] = wait_until(lambda: mailsink.to(staff), 60, "report never arrived", live_worker)
    assert message["Subject"] == f"Revenue report {yesterday:%Y-%m-%d}"
    csv = next(message.iter_attachments()).get_content()
    assert f"{yesterday.isoformat()},3,76.50,EUR" in csv
    assert "finance.sum_revenue_chunk[" in live_worker.output()
