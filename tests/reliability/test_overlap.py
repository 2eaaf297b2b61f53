"""Overlap: exchange-rate syncs fired while a slow one still runs never fetch the feed at the same time."""

import pytest

from finance import tasks as finance_tasks
from finance.models import ExchangeRate
from tests.support.feeds import FeedServer
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_slow_exchange_rate_sync_never_overlaps_the_next(live_worker):
    feed = FeedServer()
    feed.hold()  # the first sync's fetch waits until the later runs are done
    try:
        # when a sync is still fetching as the next runs are fired (both pool processes free to run them)
        first = finance_tasks.sync_exchange_rates.delay(url=feed.url)
        wait_until(lambda: feed.in_flight, 60, "the first sync never fetched", live_worker)
        later = [finance_tasks.sync_exchange_rates.delay(url=feed.url) for _ in range(3)]

        # then the later ones found the lock held and stepped aside while it was still fetching
        wait_until(
            lambda: all(f"[{run.id}] succeeded" in live_worker.output() for run in later),
            60,
            "a later sync never finished",
            live_worker,
        )
        assert feed.in_flight == 1 and feed.requests == 1
        feed.release()
        wait_until(
            lambda: f"[{first.id}] succeeded" in live_worker.output(), 60, "the first sync never finished", live_worker
        )
        assert feed.most_at_once == 1
        assert "exchange-rate sync already running, this run skipped" in live_worker.output()
        assert ExchangeRate.objects.filter(date="2026-11-20").count() == 4
    finally:
        feed.stop()
