import logging
import smtplib

import pytest

from core.models import DeadLetter
from orders import tasks
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_missing_order_logs_a_warning_and_is_not_retried(eager, caplog):
    with caplog.at_level(logging.WARNING):
        result = tasks.send_invoice_email.apply(args=[999_999])

    assert result.successful()
    assert "orders.send_invoice_email skipped, object not found" in caplog.text
    assert not DeadLetter.objects.exists()


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
