import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from core.exceptions import ProjectError
from finance import services
from finance.models import Charge, ExchangeRate, RevenueReport
from finance.selectors import charge_for_order
from orders.models import Order
from tests.factories import OrderFactory, ProductFactory
from tests.finance.factories import PaidChargeFactory
from tests.finance.gateways import debits_of
from tests.support.feeds import ECB_FEED

pytestmark = pytest.mark.django_db


def test_charge_request_creates_a_pending_charge_for_the_order_total():
    order = OrderFactory()  # 2 × 10.00 + 1 × 5.50

    charge = services.charge_request(order=order)

    assert charge.status == Charge.Status.PENDING
    assert (charge.amount, charge.currency) == (Decimal("25.50"), "EUR")
    assert charge.idempotency_key and charge_for_order(order=order) == charge
    assert services.charge_request(order=order) == charge  # asking twice queues nothing new


def test_charge_request_refuses_a_paid_order():
    charge = PaidChargeFactory()

    with pytest.raises(ProjectError, match="already paid"):
        services.charge_request(order=charge.order)


def test_charge_execute_debits_once_and_marks_the_order_paid(instant_gateway):
    order = OrderFactory()

    charge = services.charge_execute(order_id=order.pk)
    again = services.charge_execute(order_id=order.pk)

    assert again.pk == charge.pk and charge.status == Charge.Status.SUCCEEDED
    assert charge.gateway_reference.startswith("sim_") and charge.succeeded_at is not None
    assert [debit["idempotency_key"] for debit in debits_of(order)] == [charge.idempotency_key]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_lost_response_is_retried_with_the_same_key_and_debits_once(lost_responses):
    order = OrderFactory()
    lost_responses.lost = 1

    with pytest.raises(ConnectionError):
        services.charge_execute(order_id=order.pk)
    charge = services.charge_execute(order_id=order.pk)

    assert charge.status == Charge.Status.SUCCEEDED and charge.attempts == 2
    assert lost_responses.keys_sent == [charge.idempotency_key] * 2
    assert len(debits_of(order)) == 1


def test_a_declined_charge_is_final_and_fails_the_order(instant_gateway):
    order = OrderFactory(items=[(ProductFactory(price=Decimal("20000.00")), 1)])

    with pytest.raises(ProjectError, match="declined"):
        services.charge_execute(order_id=order.pk)

    charge = charge_for_order(order=order)
    assert charge.status == Charge.Status.FAILED
    assert charge.failure_reason == "The card was declined: 20000.00 EUR is above its limit."
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and "declined" in order.failure_reason
    assert debits_of(order) == []
    with pytest.raises(ProjectError, match="declined"):  # a redelivery does not try again
        services.charge_execute(order_id=order.pk)
    assert Charge.objects.filter(order=order).count() == 1


def test_an_order_without_items_has_nothing_to_charge():
    order = OrderFactory(items=[])

    with pytest.raises(ProjectError, match="nothing to charge"):
        services.charge_request(order=order)


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_runs_make_one_charge_and_one_debit(instant_gateway):
    instant_gateway.PAYMENT_GATEWAY_LATENCY_MS = 50  # widen the window in which runs overlap
    order = OrderFactory()
    start = threading.Barrier(10)
    outcomes = []

    def run():
        start.wait()
        try:
            outcomes.append(services.charge_execute(order_id=order.pk).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 10 and len(set(outcomes)) == 1
    charge = Charge.objects.get(order=order)
    assert charge.status == Charge.Status.SUCCEEDED
    assert len(debits_of(order)) == 1


def test_exchange_rates_are_stored_with_the_feed_date(feed_server):
    rates = services.exchange_rates_sync()

    stored = {rate.currency: rate.rate for rate in rates}
    assert stored["USD"] == Decimal("1.0812") and stored["JPY"] == Decimal("162.45") and len(stored) == 4
    assert {rate.date.isoformat() for rate in rates} == {"2026-11-20"}
    services.exchange_rates_sync()  # the same feed again updates, never duplicates
    assert ExchangeRate.objects.count() == 4


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>Service maintenance</html", "not XML"),
        (ECB_FEED.replace(b"rate='1.0812'", b"rate='n/a'"), "bad rate"),
        (ECB_FEED.replace(b"time='2026-11-20'", b"time='yesterday'"), "bad date"),
        (ECB_FEED.replace(b"time='2026-11-20'", b"date='2026-11-20'"), "expected one dated Cube"),
        (ECB_FEED.replace(b"currency='USD'", b"currency='usd'"), "bad rate"),
        (ECB_FEED + b"<!--" + b"x" * services.EXCHANGE_RATES_MAX_BYTES + b"-->", "larger than"),
    ],
)
def test_a_malformed_feed_is_rejected_and_previous_rates_kept(feed_server, body, problem):
    services.exchange_rates_sync()
    feed_server.serve(body.replace(b"2026-11-20", b"2026-11-21"))

    with pytest.raises(ProjectError, match=problem):
        services.exchange_rates_sync()

    assert not ExchangeRate.objects.filter(date="2026-11-21").exists()
    assert ExchangeRate.objects.get(currency="USD").rate == Decimal("1.0812")


def test_a_server_error_is_transient_and_a_missing_feed_is_not(feed_server):
    feed_server.serve(b"busy", status=503)
    with pytest.raises(services.ExchangeRateFeedUnavailable):
        services.exchange_rates_sync()

    feed_server.serve(b"gone", status=404)
    with pytest.raises(ProjectError, match="404"):
        services.exchange_rates_sync()


def test_revenue_chunk_sums_only_orders_paid_that_day_in_the_range():
    yesterday = timezone.localdate() - timedelta(days=1)
    paid = [PaidChargeFactory(succeeded_at=timezone.now() - timedelta(days=1)) for _ in range(3)]
    PaidChargeFactory()  # paid today: not in yesterday's report
    first, last = paid[0].order_id, paid[1].order_id

    totals = services.revenue_chunk_sum(day=yesterday, first_order_id=first, last_order_id=last)

    assert totals == {"paid_orders": 2, "revenue": "51.00"}


def test_a_revenue_chunk_is_summed_in_cents_by_the_database():
    day = timezone.localdate()
    first = PaidChargeFactory(order=OrderFactory(items=[(ProductFactory(price=Decimal("79.20")), 3)]))
    last = PaidChargeFactory(order=OrderFactory(items=[(ProductFactory(price=Decimal("12.40")), 1)]))

    totals = services.revenue_chunk_sum(day=day, first_order_id=first.order_id, last_order_id=last.order_id)

    assert totals == {"paid_orders": 2, "revenue": "250.00"}  # 237.60 + 12.40, never "250"


def test_the_revenue_report_is_emailed_once_as_csv(mailsink, settings):
    settings.STAFF_REPORT_EMAILS = ["finance@example.com"]
    day = timezone.localdate()

    services.revenue_report_send(
        day=day, chunk_totals=[{"paid_orders": 2, "revenue": "51.00"}, {"paid_orders": 1, "revenue": "10.25"}]
    )
    services.revenue_report_send(day=day, chunk_totals=[{"paid_orders": 2, "revenue": "51.00"}])

    [message] = mailsink.to("finance@example.com")
    assert message.get_body(("plain",)).get_content().startswith("3 paid orders, 61.25 EUR revenue.")
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content().splitlines() == [
        "date,paid_orders,revenue,currency",
        f"{day.isoformat()},3,61.25,EUR",
    ]
    assert RevenueReport.objects.get(date=day).sent_at is not None
