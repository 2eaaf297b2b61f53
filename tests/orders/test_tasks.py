import logging
import smtplib

import pytest
from fpdf import FPDF

from core.models import DeadLetter
from core.tasking.policy import exception_text
from finance.models import Charge
from finance.selectors import charge_for_order
from orders import tasks
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.finance.factories import PaidChargeFactory
from tests.finance.gateways import debits_of

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
    assert not Invoice.objects.filter(order=order, sent_at__isnull=False).exists(), "marked sent, never accepted"


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


def test_lost_responses_are_retried_with_the_same_idempotency_key(eager, lost_responses):
    order = OrderFactory()
    lost_responses.lost = 3

    result = tasks.charge_order.apply(args=[order.pk])

    assert result.successful()
    charge = charge_for_order(order_id=order.pk)
    assert charge.status == Charge.Status.SUCCEEDED and charge.attempts == 4
    assert set(lost_responses.keys_sent) == {charge.idempotency_key} and len(lost_responses.keys_sent) == 4
    assert len(debits_of(order)) == 1


def test_retries_wait_an_exponential_backoff_with_jitter(eager, lost_responses, monkeypatch):
    order = OrderFactory()
    lost_responses.lost = 5
    countdowns = []
    retry = tasks.charge_order.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr(tasks.charge_order, "retry", recording_retry)

    assert tasks.charge_order.apply(args=[order.pk]).successful()

    assert len(countdowns) == 5
    # Full jitter: each wait is random up to 2 s × 2^retry, capped, and far below the visibility timeout.
    assert all(0 <= wait <= min(2 * 2**retry, 300) for retry, wait in enumerate(countdowns))


def test_a_charge_that_never_gets_an_answer_is_dead_lettered_still_processing(eager, lost_responses):
    order = OrderFactory()
    lost_responses.lost = 100

    result = tasks.charge_order.apply(args=[order.pk])

    assert result.failed()
    letter = DeadLetter.objects.get(task_name="orders.charge_order")
    assert letter.args == [order.pk] and letter.attempts == 6
    charge = charge_for_order(order_id=order.pk)
    # Left processing with its key, so a retry from the dead letter resumes the same gateway charge.
    assert charge.status == Charge.Status.PROCESSING and "Gateway unavailable" in charge.failure_reason
    assert len(set(lost_responses.keys_sent)) == 1


def test_a_decline_is_not_retried(eager, lost_responses):
    order = OrderFactory(items=[])
    Charge.objects.create(order=order, amount=20_000, currency="EUR")

    result = tasks.charge_order.apply(args=[order.pk])

    assert result.failed()
    assert len(lost_responses.keys_sent) == 1
    assert DeadLetter.objects.get(task_name="orders.charge_order").attempts == 1
    order.refresh_from_db()
    assert order.status == "failed" and "declined" in order.failure_reason


def test_a_paid_order_delivered_again_is_not_charged_again(eager, lost_responses):
    charge = PaidChargeFactory()

    assert tasks.charge_order.apply(args=[charge.order_id]).successful()

    assert lost_responses.keys_sent == [] and Charge.objects.filter(order=charge.order).count() == 1
