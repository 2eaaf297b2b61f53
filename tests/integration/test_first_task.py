"""The whole path of a click: POST → outbox row in the transaction → publish after commit → a real worker
process → the email with its PDF at the SMTP server."""

import pytest

from orders.models import Invoice
from tests.factories import OrderFactory
from tests.support.pdf import attachment, pdf_text
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_invoice_click_runs_on_a_real_worker(client, live_worker, mailsink):
    order = OrderFactory()
    client.force_login(order.customer.user)

    response = client.post(f"/orders/{order.pk}/send-invoice/", follow=True)

    assert "queued" in response.content.decode()
    messages = wait_until(lambda: mailsink.to(order.customer.email), 30, "invoice email never arrived", live_worker)
    invoice = Invoice.objects.get(order=order)
    assert invoice.sent_at is not None
    assert invoice.number in pdf_text(attachment(messages[0])[1])
    assert f"Task orders.send_invoice_email[" in live_worker.output()
