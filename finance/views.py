"""A local exchange-rate feed for development: `make run` points EXCHANGE_RATES_URL here, so the periodic sync
succeeds on a machine that cannot reach the ECB instead of dead-lettering every 15 minutes."""

from decimal import Decimal

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone

# Reference rates against the euro, of the ECB's daily feed on 2026-11-27; the feed is dated the day it is read.
LOCAL_RATES = {
    "USD": Decimal("1.0842"),
    "JPY": Decimal("162.31"),
    "GBP": Decimal("0.8391"),
    "CHF": Decimal("0.9387"),
    "SEK": Decimal("11.2035"),
    "PLN": Decimal("4.2615"),
}


def local_exchange_rates(request):
    """The ECB's daily feed format, with fixed rates dated today; only where DEBUG is on."""
    if not settings.DEBUG:
        raise Http404("The local exchange-rate feed is for development only.")
    cubes = "".join(f'<Cube currency="{currency}" rate="{rate}"/>' for currency, rate in LOCAL_RATES.items())
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"'
        ' xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject>"
        f'<Cube><Cube time="{timezone.localdate().isoformat()}">{cubes}</Cube></Cube>'
        "</gesmes:Envelope>"
    )
    return HttpResponse(feed, content_type="application/xml")
