from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import DeadLetter
from core.tasking.locks import nonoverlapping
from finance import tasks
from finance.models import ExchangeRate
from tests.finance.factories import PaidChargeFactory

pytestmark = pytest.mark.django_db


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
