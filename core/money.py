"""Money as the shop computes and shows it: Decimal rounded to cents, written `237.60 EUR` everywhere."""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import DecimalField, Expression, Sum, Value
from django.db.models.functions import Cast, Coalesce

CURRENCY = "EUR"  # the shop's prices are in euro, like the ECB's reference rates
CENT = Decimal("0.01")
MAX_DIGITS = 14  # up to 999,999,999,999.99: room for a year of revenue, the widest amount stored


def money_field() -> DecimalField:
    return DecimalField(max_digits=MAX_DIGITS, decimal_places=2)


def money_sum(amount: Expression) -> Cast:
    """The database's sum of `amount`, cast to numeric with two decimals (0.00 over no rows), so Python
    receives an exact Decimal in cents whatever the column types multiplied into `amount`."""
    return Cast(Coalesce(Sum(amount), Value(Decimal("0")), output_field=money_field()), output_field=money_field())


def cents(amount: Decimal | int | str) -> Decimal:
    """`amount` rounded to cents, half up as on a till; floats are refused because they cannot hold cents."""
    if isinstance(amount, float):
        raise TypeError(f"money must be a Decimal, int or str, not the float {amount!r}")
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal | int | str, currency: str = CURRENCY) -> str:
    """How a person reads an amount on pages, emails, PDFs and admin: `1234.50 EUR`."""
    return f"{cents(amount)} {currency}"
