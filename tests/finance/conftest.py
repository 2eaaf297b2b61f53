"""Fixtures for finance tests: a local HTTP server for exchange-rate feeds, a gateway that loses responses."""

import pytest

from tests.support.feeds import FeedServer


@pytest.fixture
def feed_server(settings):
    server = FeedServer()
    settings.EXCHANGE_RATES_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def lost_responses(settings):
    """Switch to LostResponsesGateway; set `.lost` to how many responses to lose."""
    from tests.finance.gateways import LostResponsesGateway

    settings.PAYMENT_GATEWAY_CLASS = "tests.finance.gateways.LostResponsesGateway"
    LostResponsesGateway.lost = 0
    LostResponsesGateway.keys_sent = []
    return LostResponsesGateway
