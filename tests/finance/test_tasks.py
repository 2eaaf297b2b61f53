from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import DeadLetter
from core.tasking.locks import nonoverlapping
from finance import tasks
from finance.models import Charge, ExchangeRate
from finance.selectors import charge_for_order
from tests.factories import OrderFactory
from tests.finance.factories import PaidChargeFactory
from tests.finance.gateways import debits_of

pytestmark = pytest.mark.django_db


def test_lost_responses_are_retried_with_the_same_idempotency_key(eager, lost_responses):
    order = OrderFactory()
    lost_responses.lost = 3

    result = tasks.charge_customer.apply(args=[order.pk])

    assert result.successful()
    charge = charge_for_order(order=order)
    assert charge.status == Charge.Status.SUCCEEDED and charge.attempts == 4
    assert set(lost_responses.keys_sent) == {charge.idempotency_key} and len(lost_responses.keys_sent) == 4
    assert len(debits_of(order)) == 1


def test_retries_wait_an_exponential_backoff_with_jitter(eager, lost_responses, monkeypatch):
    order = OrderFactory()
    lost_responses.lost = 5
    countdowns = []
    retry = tasks.charge_customer.retry

    def recording_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr(tasks.charge_customer, "retry", recording_retry)

    assert tasks.charge_customer.apply(args=[order.pk]).successful()

    assert len(countdowns) == 5
    # Full jitter: each wait is random up to 2 s × 2^retry, capped, and far below the visibility timeout.
    assert all(0 <= wait <= min(2 * 2**retry, 300) for retry, wait in enumerate(countdowns))


def test_a_charge_that_never_gets_an_answer_is_dead_lettered_still_processing(eager, lost_responses):
    order = OrderFactory()
    lost_responses.lost = 100

    result = tasks.charge_customer.apply(args=[order.pk])

    assert result.failed()
    letter = DeadLetter.objects.get(task_name="finance.charge_customer")
    assert letter.args == [order.pk] and letter.attempts == 6
    charge = charge_for_order(order=order)
    # Left processing with its key, so a retry from the dead letter resumes the same gateway charge.
    assert charge.status == Charge.Status.PROCESSING and "Gateway unavailable" in charge.failure_reason
    assert len(set(lost_responses.keys_sent)) == 1


def test_a_decline_is_not_retried(eager, lost_responses):
    order = OrderFactory(items=[])
    Charge.objects.create(order=order, amount=20_000, currency="EUR")

    result = tasks.charge_customer.apply(args=[order.pk])

    assert result.failed()
    assert len(lost_responses.keys_sent) == 1
    assert DeadLetter.objects.get(task_name="finance.charge_customer").attempts == 1
    order.refresh_from_db()
    assert order.status == "failed" and "declined" in order.failure_reason


def test_a_paid_order_delivered_again_is_not_charged_again(eager, lost_responses):
    charge = PaidChargeFactory()

    assert tasks.charge_customer.apply(args=[charge.order_id]).successful()

    assert lost_responses.keys_sent == [] and Charge.objects.filter(order=charge.order).count() == 1


def test_sync_stores_the_feed(eager, feed_server):
    assert tasks.sync_exchange_rates.apply().successful()

    assert ExchangeRate.objects.filter(date="2026-11-20").count() == 4


def test_sync_skips_while_another_run_holds_the_lock(eager, feed_server):
    with nonoverlapping("finance.sync_exchange_rates", timeout=30) as acquired:
        assert acquired
        result = tasks.sync_exchange_rates.apply()

    assert result.successful()
    assert feed_server.requests == 0 and not ExchangeRate.objects.exists()


def test_a_feed_that_keeps_failing_is_retried_then_dead_lettered(eager, feed_server):
    feed_server.serve(b"unavailable", status=503)

    result = tasks.sync_exchange_rates.apply()

    assert result.failed()
    assert feed_server.requests == 6
    assert "ExchangeRateFeedUnavailable" in DeadLetter.objects.get(task_name="finance.sync_exchange_rates").exception


def test_a_malformed_feed_is_dead_lettered_without_retry(eager, feed_server):
    feed_server.serve(b"<not-the-ecb/>")

    result = tasks.sync_exchange_rates.apply()

    assert result.failed() and feed_server.requests == 1
    assert "Exchange-rate feed rejected" in DeadLetter.objects.get(task_name="finance.sync_exchange_rates").exception


def test_daily_report_covers_yesterday_by_default(eager, mailsink, settings, monkeypatch):
    settings.STAFF_REPORT_EMAILS = ["boss@example.com"]
    monkeypatch.setattr(tasks, "REVENUE_REPORT_CHUNK_SIZE", 2)  # three chunks from five orders
    for _ in range(5):
        PaidChargeFactory(succeeded_at=timezone.now() - timedelta(days=1))

    tasks.daily_revenue_report.apply()

    [message] = mailsink.to("boss@example.com")
    yesterday = timezone.localdate() - timedelta(days=1)
    csv = next(message.iter_attachments()).get_content()
    assert f"{yesterday.isoformat()},5,127.50,EUR" in csv
