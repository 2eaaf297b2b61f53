"""Fixtures for finance tests: a local HTTP server for exchange-rate feeds, eager Celery for task logic."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ECB_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='2026-11-20'>
\t\t\t<Cube currency='USD' rate='1.0812'/>
\t\t\t<Cube currency='JPY' rate='162.45'/>
\t\t\t<Cube currency='GBP' rate='0.84213'/>
\t\t\t<Cube currency='CHF' rate='0.9387'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
"""


class FeedServer:
    """Serves one configurable response at /eurofxref-daily.xml and counts the requests."""

    def __init__(self):
        self.status, self.body, self.requests = 200, ECB_FEED, 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                feed.requests += 1
                self.send_response(feed.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/eurofxref-daily.xml"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, body: bytes, status: int = 200) -> None:
        self.status, self.body = status, body

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server(settings):
    server = FeedServer()
    settings.EXCHANGE_RATES_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def eager():
    from myproject.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def instant_gateway(settings):
    """The simulated gateway without its latency, succeeding unless a test sets a failure rate."""
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    settings.PAYMENT_GATEWAY_FAILURE_RATE = 0.0
    return settings


@pytest.fixture
def lost_responses(settings):
    """Switch to LostResponsesGateway; set `.lost` to how many responses to lose."""
    from tests.finance.gateways import LostResponsesGateway

    settings.PAYMENT_GATEWAY_CLASS = "tests.finance.gateways.LostResponsesGateway"
    LostResponsesGateway.lost = 0
    LostResponsesGateway.keys_sent = []
    return LostResponsesGateway
