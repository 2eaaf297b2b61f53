from datetime import UTC, datetime

import pytest

from core.exceptions import ProjectError
from orders import services
from orders.models import Invoice, Order
from tests.factories import OrderFactory
from tests.support.pdf import attachment, pdf_text

pytestmark = pytest.mark.django_db


def test_invoice_send_emails_a_pdf_with_the_order_lines_and_total(mailsink):
    order = OrderFactory()

    invoice = services.invoice_send(order_id=order.pk)

    [message] = mailsink.to(order.customer.email)
    assert message["Subject"] == f"Your invoice {invoice.number}"
    filename, pdf = attachment(message)
    assert filename == f"{invoice.number}.pdf"
    text = pdf_text(pdf)
    assert invoice.number in text and order.customer.name in text
    assert "10.00 EUR" in text and "20.00 EUR" in text and "5.50 EUR" in text  # unit prices and line amounts
    assert "25.50 EUR" in text  # 2 x 10.00 + 1 x 5.50
    assert f"invoice for order #{order.pk}, total 25.50 EUR." in message.get_body(("plain",)).get_content()
    assert invoice.status == Invoice.Status.SENT and invoice.sent_at is not None


@pytest.mark.parametrize(
    "name",
    [
        "Łukasz Żółć 王小明",  # Polish and Chinese: the name a probe could never invoice with Helvetica
        "Γιώργος Παπαδόπουλος",
        "Дмитрий Иванов",
        "محمد علي",
        "山田 太郎 やまだ",
        "김민준",
    ],
)
def test_invoice_pdf_carries_a_name_in_any_script(mailsink, name):
    order = OrderFactory(customer__name=name)

    services.invoice_send(order_id=order.pk)

    [message] = mailsink.to(order.customer.email)
    assert name in pdf_text(attachment(message)[1])


def test_the_invoice_pdf_dates_the_order_by_the_project_zone(mailsink, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    order = OrderFactory()
    Order.objects.filter(pk=order.pk).update(created_at=datetime(2026, 11, 21, 23, 30, tzinfo=UTC))  # 00:30 in Berlin

    services.invoice_send(order_id=order.pk)

    [message] = mailsink.to(order.customer.email)
    assert f"Order #{order.pk} - 2026-11-22" in pdf_text(attachment(message)[1])


def test_invoice_send_twice_sends_one_email(mailsink):
    order = OrderFactory()

    services.invoice_send(order_id=order.pk)
    services.invoice_send(order_id=order.pk)

    assert len(mailsink.to(order.customer.email)) == 1


def test_invoice_request_refuses_an_invoice_already_sent(mailsink):
    order = OrderFactory()
    services.invoice_send(order_id=order.pk)

    with pytest.raises(ProjectError, match="already sent"):
        services.invoice_request(order=order)
