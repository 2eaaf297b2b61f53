"""The exchange-rate feed `make run` serves, so the rates sync succeeds offline: the ECB's format, dated today,
and nowhere but under DEBUG."""

import pytest
from django.utils import timezone

from finance.services import exchange_rates_parse
from finance.views import LOCAL_RATES


def test_the_local_feed_is_one_the_sync_accepts_dated_today(client, settings):
    settings.DEBUG = True

    response = client.get("/dev/exchange-rates.xml")

    assert response.status_code == 200
    assert exchange_rates_parse(response.content) == (timezone.localdate(), LOCAL_RATES)


@pytest.mark.parametrize("method", ["get", "head"])
def test_the_local_feed_does_not_exist_in_production(client, settings, method):
    settings.DEBUG = False

    assert getattr(client, method)("/dev/exchange-rates.xml").status_code == 404
