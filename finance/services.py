"""Writes and business rules for finance: charges (for the orders app, which owns the order), exchange rates,
revenue reports."""

import csv
import io
import logging
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from core.exceptions import ProjectError
from core.money import CURRENCY, cents, format_money
from finance.gateways import ChargeDeclined, payment_gateway
from finance.models import Charge, ExchangeRate, RevenueReport
from finance.selectors import revenue_of_paid_orders

logger = logging.getLogger(__name__)

EXCHANGE_RATES_TIMEOUT_SECONDS = 10
EXCHANGE_RATES_MAX_BYTES = 1_000_000  # the ECB's feed is about 2 kB; anything this big is not that feed
ECB_NAMESPACE = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"


class ExchangeRateFeedUnavailable(ConnectionError):
    """The feed could not be fetched this time (network, timeout, 5xx): worth a retry."""


# --- Charges ----------------------------------------------------------------------------------------
# Finance knows an order only by its id: the order's app holds the order row lock while it calls these, and
# records on the order what their outcome says.


@dataclass(frozen=True)
class ChargeOutcome:
    """What the gateway answered for a charge: paid, with its reference, or declined with the reason a person
    reads."""

    charge: Charge
    paid: bool
    gateway_reference: str = ""
    failure_reason: str = ""


def charge_request(*, order_id: int, amount: Decimal) -> Charge:
    """Create the order's pending charge (or return the one already pending) for a task to execute."""
    charge = Charge.objects.exclude(status=Charge.Status.FAILED).filter(order_id=order_id).first()
    if charge is None:
        return _charge_create(order_id=order_id, amount=amount)
    if charge.status == Charge.Status.SUCCEEDED:
        raise ProjectError(f"Order #{order_id} is already paid.")
    if charge.status == Charge.Status.PROCESSING:
        raise ProjectError(f"A payment for order #{order_id} is already in progress.")
    return charge


@transaction.atomic
def charge_begin(*, order_id: int, amount: Decimal) -> Charge:
    """The order's live charge (created when there is none), marked processing for one more attempt; a
    succeeded charge is returned as it is. The partial unique constraint keeps it the only live one."""
    charge = Charge.objects.select_for_update().exclude(status=Charge.Status.FAILED).filter(order_id=order_id).first()
    if charge is None:
        charge = _charge_create(order_id=order_id, amount=amount)
    if charge.status != Charge.Status.SUCCEEDED:
        charge.status = Charge.Status.PROCESSING
        charge.attempts += 1
        charge.save(update_fields=["status", "attempts", "updated_at"])
    return charge


def charge_collect(*, charge: Charge, customer_reference: str) -> ChargeOutcome:
    """Ask the gateway for the money, with the charge's idempotency key: it debits once however often this
    runs for the charge (retries, a redelivery after a crash mid-call, a lost response). Outside any
    transaction, so no row lock is held across the network. Transient gateway errors propagate for the task to
    retry with the same key; the answer is recorded by `charge_settle`."""
    try:
        result = payment_gateway().charge(
            amount=charge.amount,
            currency=charge.currency,
            customer_reference=customer_reference,
            idempotency_key=charge.idempotency_key,
        )
    except ChargeDeclined as exc:
        return ChargeOutcome(charge=charge, paid=False, failure_reason=str(exc))
    except ConnectionError as exc:
        Charge.objects.filter(pk=charge.pk).update(failure_reason=f"Gateway unavailable: {exc}")
        raise
    return ChargeOutcome(charge=charge, paid=True, gateway_reference=result.reference)


@transaction.atomic
def charge_settle(*, outcome: ChargeOutcome) -> Charge:
    """Record the gateway's answer on the charge: succeeded with its reference, or failed (final) with the
    reason. The order's app calls it in the transaction that records the same outcome on the order, so a page
    never shows a paid charge on an unpaid order. A charge another run settled as succeeded stays so."""
    charge = Charge.objects.select_for_update().get(pk=outcome.charge.pk)
    if charge.status == Charge.Status.SUCCEEDED:
        return charge
    if outcome.paid:
        charge.status = Charge.Status.SUCCEEDED
        charge.gateway_reference = outcome.gateway_reference
        charge.failure_reason = ""
        charge.succeeded_at = timezone.now()
        logger.info(
            "order #%s charged %s (%s)",
            charge.order_id,
            format_money(charge.amount, charge.currency),
            outcome.gateway_reference,
        )
    else:
        charge.status = Charge.Status.FAILED
        charge.failure_reason = outcome.failure_reason
    charge.save(update_fields=["status", "gateway_reference", "failure_reason", "succeeded_at", "updated_at"])
    return charge


def _charge_create(*, order_id: int, amount: Decimal) -> Charge:
    if amount <= 0:
        raise ProjectError(f"Order #{order_id} has nothing to charge.")
    return Charge.objects.create(order_id=order_id, amount=amount, currency=CURRENCY)


# --- Exchange rates ---------------------------------------------------------------------------------


def exchange_rates_sync(*, url: str | None = None) -> list[ExchangeRate]:
    """Fetch the ECB-format feed and store its rates under the feed's date; a malformed feed stores nothing."""
    url = url or settings.EXCHANGE_RATES_URL
    feed_date, rates = exchange_rates_parse(_fetch(url))
    ExchangeRate.objects.bulk_create(
        [ExchangeRate(currency=currency, rate=rate, date=feed_date) for currency, rate in rates.items()],
        update_conflicts=True,
        unique_fields=["currency", "date"],
        update_fields=["rate"],
    )
    logger.info("stored %d exchange rates for %s from %s", len(rates), feed_date, url)
    return list(ExchangeRate.objects.filter(date=feed_date))


def exchange_rates_parse(content: bytes) -> tuple[date, dict[str, Decimal]]:
    """The feed's date and its rates per currency; ProjectError naming the problem when it is malformed."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise ProjectError(f"Exchange-rate feed rejected: not XML ({exc}).") from exc
    days = root.findall(f"{ECB_NAMESPACE}Cube/{ECB_NAMESPACE}Cube[@time]")
    if len(days) != 1:
        raise ProjectError(f"Exchange-rate feed rejected: expected one dated Cube, found {len(days)}.")
    try:
        feed_date = date.fromisoformat(days[0].get("time"))
    except ValueError as exc:
        raise ProjectError(f"Exchange-rate feed rejected: bad date {days[0].get('time')!r}.") from exc
    rates = {}
    for cube in days[0].findall(f"{ECB_NAMESPACE}Cube"):
        currency, raw_rate = cube.get("currency", ""), cube.get("rate", "")
        try:
            rate = Decimal(raw_rate)
        except InvalidOperation:
            rate = None
        if (
            rate is None
            or not rate.is_finite()
            or rate <= 0
            or not (len(currency) == 3 and currency.isalpha() and currency.isupper())
        ):
            raise ProjectError(f"Exchange-rate feed rejected: bad rate {currency!r}={raw_rate!r}.")
        rates[currency] = rate
    if not rates:
        raise ProjectError("Exchange-rate feed rejected: it lists no rates.")
    return feed_date, rates


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=EXCHANGE_RATES_TIMEOUT_SECONDS) as response:
            content = response.read(EXCHANGE_RATES_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise ExchangeRateFeedUnavailable(f"{url} answered {exc.code}") from exc
        raise ProjectError(f"Exchange-rate feed rejected: {url} answered {exc.code}.") from exc
    except OSError as exc:  # URLError, timeouts, refused and reset connections
        raise ExchangeRateFeedUnavailable(f"{url} unreachable: {exc}") from exc
    if len(content) > EXCHANGE_RATES_MAX_BYTES:
        raise ProjectError(f"Exchange-rate feed rejected: larger than {EXCHANGE_RATES_MAX_BYTES} bytes.")
    return content


# --- Revenue report ---------------------------------------------------------------------------------


def revenue_chunk_sum(*, day: date, first_order_id: int, last_order_id: int) -> dict:
    """The chord header's part: paid orders and revenue in one id range, as JSON for the result backend."""
    paid_orders, revenue = revenue_of_paid_orders(day=day, first_order_id=first_order_id, last_order_id=last_order_id)
    return {"paid_orders": paid_orders, "revenue": str(revenue)}


def revenue_report_send(*, day: date, chunk_totals: list[dict]) -> RevenueReport:
    """Combine the chunk sums and email the CSV to STAFF_REPORT_EMAILS, once per day."""
    paid_orders = sum(chunk["paid_orders"] for chunk in chunk_totals)
    revenue = cents(sum((Decimal(chunk["revenue"]) for chunk in chunk_totals), Decimal("0")))
    with transaction.atomic():
        report, _ = RevenueReport.objects.select_for_update().get_or_create(
            date=day, defaults={"paid_orders": paid_orders, "revenue": revenue}
        )
        if report.sent_at is not None:
            logger.info("revenue report for %s already sent", day)
            return report
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["date", "paid_orders", "revenue", "currency"])
        writer.writerow([day.isoformat(), paid_orders, revenue, CURRENCY])
        message = EmailMessage(
            subject=f"Revenue report {day:%Y-%m-%d}",
            body=f"{paid_orders} paid orders, {format_money(revenue)} revenue. The CSV is attached.\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=settings.STAFF_REPORT_EMAILS,
        )
        message.attach(f"revenue-{day:%Y-%m-%d}.csv", buffer.getvalue(), "text/csv")
        message.send()
        report.paid_orders, report.revenue, report.sent_at = paid_orders, revenue, timezone.now()
        report.save(update_fields=["paid_orders", "revenue", "sent_at"])
    return report
