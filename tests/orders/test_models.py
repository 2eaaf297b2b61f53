"""Order totals, summed by the database as exact numeric in cents."""

from decimal import Decimal

import pytest

from orders.models import Order
from tests.factories import OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_an_order_total_is_exact_and_has_two_decimals():
    order = OrderFactory(items=[(ProductFactory(price=Decimal("79.20")), 3)])

    assert str(order.total) == "237.60"


@pytest.mark.parametrize(
    ("price", "quantity", "total"), [("79.00", 1, "79.00"), ("12.50", 1, "12.50"), ("19.60", 3, "58.80")]
)
def test_whole_and_half_totals_keep_their_cents(price, quantity, total):
    order = OrderFactory(items=[(ProductFactory(price=Decimal(price)), quantity)])

    assert str(order.total) == total


def test_ten_lines_of_ten_cents_total_exactly_one_euro():
    # Summed as floats these would make 0.9999999999999999.
    order = OrderFactory(items=[(ProductFactory(price=Decimal("0.10")), 1) for _ in range(10)])

    assert str(order.total) == "1.00"


def test_an_order_without_lines_totals_zero_cents():
    order = OrderFactory(items=[])

    assert str(order.total) == "0.00"


def test_a_list_of_orders_gets_every_total_in_one_query(django_assert_num_queries):
    big = OrderFactory(items=[(ProductFactory(price=Decimal("79.20")), 3), (ProductFactory(price=Decimal("0.40")), 1)])
    empty = OrderFactory(items=[])

    with django_assert_num_queries(1):
        totals = {order.pk: str(order.total_amount) for order in Order.objects.with_totals()}

    assert totals == {big.pk: "238.00", empty.pk: "0.00"}
