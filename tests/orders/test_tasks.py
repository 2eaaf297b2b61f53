import logging
import smtplib

import pytest
from fpdf import FPDF

from core.models import DeadLetter
from core.tasking.policy import exception_text
from orders import tasks
from orders.models import Invoice
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_missing_order_logs_a_warning_and_is_not_retried(eager, caplog):
    with caplog.at_level(logging.WARNING):
        result = tasks.send_invoice_email.apply(args=[999_999])

    assert result.successful()
    assert "orders.send_invoice_email skipped, object not found" in caplog.text
    assert not DeadLetter.objects.exists()


def test_a_does_not_exist_raised_by_a_bug_inside_the_service_is_dead_lettered_not_skipped(eager, monkeypatch, caplog):
    # given an order that exists, and a service with a bug: it looks its invoice up by a number it never wrote
    order = OrderFactory()

    def buggy_render(*, invoice):
        return Invoice.objects.get(number=f"{invoice.number}-typo").pdf

    monkeypatch.setattr("orders.services.invoice_pdf_render", buggy_render)

    # when the invoice task runs
    with caplog.at_level(logging.WARNING):
        result = tasks.send_invoice_email.apply(args=[order.pk])

    # then it failed at once and a person can see why, instead of a "skipped" success
    assert result.failed()
    assert "skipped" not in caplog.text
    letter = DeadLetter.objects.get(task_name="orders.send_invoice_email")
    assert letter.args == [order.pk] and "DoesNotExist" in letter.exception
    assert letter.attempts == 1


def test_transient_smtp_error_is_retried_then_dead_lettered(eager, monkeypatch):
    order = OrderFactory()
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise smtplib.SMTPServerDisconnected("connection dropped")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)

    result = tasks.send_invoice_email.apply(args=[order.pk])

    assert result.failed()
    assert len(calls) == 1 + tasks.send_invoice_email.max_retries
    letter = DeadLetter.objects.get(task_name="orders.send_invoice_email")
    assert letter.args == [order.pk] and "SMTPServerDisconnected" in letter.exception
    assert letter.attempts == 1 + tasks.send_invoice_email.max_retries


def test_wrong_argument_type_is_dead_lettered_without_retry(eager):
    result = tasks.send_invoice_email.apply(args=["not-an-id"])

    assert result.failed()
    letter = DeadLetter.objects.get(task_name="orders.send_invoice_email")
    assert letter.attempts == 1 and "ValueError" in letter.exception


def test_a_rendering_error_is_dead_lettered_once_with_its_message(eager, monkeypatch):
    # given a PDF renderer that fails the way the old Latin-1-only one did on a Polish name
    order = OrderFactory(customer__name="Łukasz Żółć")

    def render_in_helvetica(*, invoice):
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica")
        pdf.cell(0, 7, invoice.order.customer.name)

    monkeypatch.setattr("orders.services.invoice_pdf_render", render_in_helvetica)

    # when the invoice task runs
    result = tasks.send_invoice_email.apply(args=[order.pk])

    # then it is not retried, and the dead letter names the real error, not a bare "FPDFException()"
    assert result.failed()
    letter = DeadLetter.objects.get(task_name="orders.send_invoice_email")
    assert letter.attempts == 1
    assert letter.exception.startswith('FPDFUnicodeEncodingException: Character "Ł" at index 0')


def test_an_exception_without_a_message_is_named_by_its_args_or_attributes():
    class NoMessage(Exception):
        def __init__(self, code):
            super().__init__()
            self.code = code

    assert exception_text(ValueError()) == "ValueError"
    assert exception_text(KeyError("sku")) == "KeyError: 'sku'"
    assert exception_text(NoMessage(7)) == "NoMessage: code=7"
