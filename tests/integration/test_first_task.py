"""The whole path of a click: POST → outbox row in the transaction → publish after commit → a real worker
process → the email with its PDF at the SMTP server."""

import re

import pytest

from core.models import Job
from orders import tasks
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.support.embedded import free_port
from tests.support.pdf import attachment, pdf_text
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_invoice_click_runs_on_a_real_worker(client, live_worker, mailsink):
    order = OrderFactory()
    client.force_login(order.customer.user)

    response = client.post(f"/orders/{order.pk}/send-invoice/", follow=True)

    assert "queued" in response.content.decode()
    messages = wait_until(lambda: mailsink.to(order.customer.email), 30, "invoice email never arrived", live_worker)
    # the worker records the send right after the SMTP server accepted the mail
    invoice = wait_until(
        lambda: Invoice.objects.filter(order=order, sent_at__isnull=False).first(), 30, "send never recorded"
    )
    assert invoice.number in pdf_text(attachment(messages[0])[1])
    assert "Task orders.send_invoice_email[" in live_worker.output()


def test_a_retrying_invoice_shows_its_retry_count(client, process_logs):
    worker = start_worker(process_logs, name="no-smtp", queues="email", EMAIL_PORT=str(free_port()))
    try:
        order = OrderFactory()
        client.force_login(order.customer.user)

        client.post(f"/orders/{order.pk}/send-invoice/")

        page = wait_until(
            lambda: (
                (html := client.get(f"/orders/{order.pk}/jobs/").content.decode()) and "retrying (" in html and html
            ),
            60,
            "the invoice never showed a retry",
            worker,
        )
        retries = int(re.search(r"retrying \((\d+)\)", page).group(1))
        assert 1 <= retries <= tasks.send_invoice_email.max_retries
        assert "ConnectionRefusedError: [Errno 111] Connection refused" in page
        # the page read the job row, which also knows when the next attempt is due
        retrying = Job.objects.filter(task_name="orders.send_invoice_email", state=Job.State.RETRYING)
        job = wait_until(retrying.first, 60, "the job row never said retrying", worker)
        assert job.next_try_at >= job.started_at and job.error.startswith("ConnectionRefusedError")
    finally:
        worker.stop()
