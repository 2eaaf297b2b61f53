"""Exact money end to end on a real worker: three items at 79.20 are 237.60 on the order page, in the
confirmation and the invoice, at the gateway and in the revenue report."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from finance import tasks as finance_tasks
from finance.gateways import SimulatedGateway
from finance.models import Charge, RevenueReport
from orders.models import Invoice, Order
from tests.factories import OrderFactory, ProductFactory
from tests.support.pdf import attachment, pdf_text
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_at_79_20_are_237_60_everywhere(live_worker, mailsink, client):
    order = OrderFactory(items=[(ProductFactory(name="Hand grinder", price=Decimal("79.20"), stock=10), 3)])
    client.force_login(order.customer.user)

    client.post(f"/orders/{order.pk}/run-pipeline/")
    client.post(f"/orders/{order.pk}/send-invoice/")

    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED,
        60,
        "order never fulfilled",
        live_worker,
    )
    wait_until(lambda: Invoice.objects.get(order=order).sent_at, 60, "invoice never sent", live_worker)
    mails = {message["Subject"]: message for message in mailsink.to(order.customer.email)}
    confirmation = mails[f"Order #{order.pk} confirmed"]
    invoice_mail = mails[f"Your invoice {Invoice.objects.get(order=order).number}"]

    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert "<td>Hand grinder</td><td>3</td><td>79.20 EUR</td><td>237.60 EUR</td>" in page
    assert '<th id="order-total">237.60 EUR</th>' in page and "Payment 237.60 EUR" in page
    assert "we received your payment of 237.60 EUR for:" in confirmation.get_content()
    assert "total 237.60 EUR." in invoice_mail.get_body(("plain",)).get_content()
    assert "237.60 EUR" in pdf_text(attachment(invoice_mail)[1])
    [debit] = SimulatedGateway.debits_for(f"customer-{order.customer_id}")
    assert debit["amount"] == "237.60" and Decimal(debit["amount"]) == Decimal("237.60")
    assert str(Charge.objects.get(order=order, status=Charge.Status.SUCCEEDED).amount) == "237.60"

    today = timezone.localdate()
    finance_tasks.daily_revenue_report.delay(today.isoformat())

    [report] = wait_until(lambda: mailsink.to(settings.STAFF_REPORT_EMAILS[0]), 60, "report never arrived", live_worker)
    assert report.get_body(("plain",)).get_content().startswith("1 paid orders, 237.60 EUR revenue.")
    assert f"{today.isoformat()},1,237.60,EUR" in next(report.iter_attachments()).get_content()
    # The mail leaves inside the report's transaction, so its row may commit just after.
    stored = wait_until(
        lambda: RevenueReport.objects.filter(date=today, sent_at__isnull=False).first(),
        30,
        "report row never committed",
        live_worker,
    )
    assert str(stored.revenue) == "237.60"
