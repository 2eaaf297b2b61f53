"""Overlap: exchange-rate syncs fired while a slow one still runs never fetch the feed at the same time."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finance import tasks as finance_tasks
from finance.models import ExchangeRate
from tests.finance.conftest import ECB_FEED
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_FEED_SECONDS = 3


class SlowFeed:
    """Answers with the ECB feed after SLOW_FEED_SECONDS and remembers the most requests it served at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = self.most_at_once = self.requests = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with feed.lock:
                    feed.requests += 1
                    feed.in_flight += 1
                    feed.most_at_once = max(feed.most_at_once, feed.in_flight)
                time.sleep(SLOW_FEED_SECONDS)
                with feed.lock:
                    feed.in_flight -= 1
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(ECB_FEED)))
                self.end_headers()
                self.wfile.write(ECB_FEED)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/eurofxref-daily.xml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_exchange_rate_sync_never_overlaps_the_next(live_worker):
    feed = SlowFeed()
    try:
        # when a sync is still fetching as the next runs are fired (both pool processes free to run them)
        first = finance_tasks.sync_exchange_rates.delay(url=feed.url)
        wait_until(lambda: feed.in_flight, 60, "the first sync never fetched", live_worker)
        later = [finance_tasks.sync_exchange_rates.delay(url=feed.url) for _ in range(3)]

        # then the later ones found the lock held and stepped aside; the feed was never fetched twice at once
        wait_until(
            lambda: all(f"[{run.id}] succeeded" in live_worker.output() for run in [first, *later]), 60,
            "a sync never finished", live_worker,
        )
        assert feed.most_at_once == 1
        assert "exchange-rate sync already running, this run skipped" in live_worker.output()
        assert ExchangeRate.objects.filter(date="2026-11-20").count() == 4
    finally:
        feed.stop()
