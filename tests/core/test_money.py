"""How amounts are rounded and written: the one helper and template filter every app uses."""

from decimal import Decimal

import pytest
from django.template import Context, Template

from core.money import cents, format_money


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("237.600000000000"), "237.60 EUR"),  # what SQLite's untyped sums used to show
        (Decimal("58.8000000000000"), "58.80 EUR"),
        (Decimal("12.5"), "12.50 EUR"),
        (Decimal("79"), "79.00 EUR"),
        (12, "12.00 EUR"),
        ("0.005", "0.01 EUR"),  # half up, as on a till
        (Decimal("-4.5"), "-4.50 EUR"),
    ],
)
def test_an_amount_is_written_with_two_decimals_and_the_shop_currency(amount, shown):
    assert format_money(amount) == shown


def test_an_amount_in_another_currency_names_it():
    assert format_money(Decimal("1.5"), "USD") == "1.50 USD"


def test_cents_refuses_floats_which_cannot_hold_cents():
    with pytest.raises(TypeError, match="float"):
        cents(0.1)


def test_templates_write_amounts_through_the_money_filter():
    template = Template("{% load money %}{{ total|money }} · {{ charge|money:'USD' }}")

    rendered = template.render(Context({"total": Decimal("237.6"), "charge": Decimal("3")}))

    assert rendered == "237.60 EUR · 3.00 USD"
