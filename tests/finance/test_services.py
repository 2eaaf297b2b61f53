from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.exceptions import ProjectError
from finance import services
from finance.models import Charge, ExchangeRate, RevenueReport
from finance.selectors import charge_for_order
from orders.models import Order
from tests.factories import OrderFactory, ProductFactory
from tests.finance.factories import PaidChargeFactory
from tests.support.feeds import ECB_FEED

pytestmark = pytest.mark.django_db


def test_charge_request_creates_a_pending_charge_for_the_order_total():
    order = OrderFactory()  # 2 × 10.00 + 1 × 5.50

    charge = services.charge_request(order_id=order.pk, amount=order.total)

    assert charge.status == Charge.Status.PENDING
    assert (charge.amount, charge.currency) == (Decimal("25.50"), "EUR")
    assert charge.idempotency_key and charge_for_order(order_id=order.pk) == charge
    assert services.charge_request(order_id=order.pk, amount=order.total) == charge  # asking twice queues nothing new


def test_charge_request_refuses_a_paid_order():
    charge = PaidChargeFactory()

    with pytest.raises(ProjectError, match="already paid"):
        services.charge_request(order_id=charge.order_id, amount=charge.amount)


def test_an_order_without_items_has_nothing_to_charge():
    order = OrderFactory(items=[])

    with pytest.raises(ProjectError, match="nothing to charge"):
        services.charge_request(order_id=order.pk, amount=order.total)


def test_a_decline_is_returned_and_settled_on_the_charge_and_the_order_is_left_to_its_app(instant_gateway):
    # given an order above the card's limit, its charge begun
    order = OrderFactory(items=[(ProductFactory(price=Decimal("20000.00")), 1)])
    charge = services.charge_begin(order_id=order.pk, amount=order.total)

    # when finance collects it and settles the answer
    outcome = services.charge_collect(charge=charge, customer_reference="customer-1")
    settled = services.charge_settle(outcome=outcome)

    # then the outcome says why, the charge keeps it, and finance wrote nothing on the order
    assert not outcome.paid and outcome.failure_reason == "The card was declined: 20000.00 EUR is above its limit."
    assert settled.status == Charge.Status.FAILED and settled.failure_reason == outcome.failure_reason
    order.refresh_from_db()
    assert order.status == Order.Status.NEW and order.failure_reason == ""


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
