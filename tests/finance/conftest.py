"""Fixtures for finance tests: a local HTTP server for exchange-rate feeds."""

import pytest

from tests.support.feeds import FeedServer


@pytest.fixture
def feed_server(settings):
    server = FeedServer()
    settings.EXCHANGE_RATES_URL = server.url
    yield server
    server.stop()
