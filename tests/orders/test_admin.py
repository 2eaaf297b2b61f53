from decimal import Decimal

import pytest

from tests.factories import OrderFactory, ProductFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_staff_see_order_totals_and_prices_with_cents_and_currency(client):
    grinder = ProductFactory(name="Hand grinder", price=Decimal("79.2"))
    OrderFactory(items=[(grinder, 3)])
    client.force_login(StaffFactory(is_superuser=True))

    orders = client.get("/admin/orders/order/").content.decode()
    products = client.get("/admin/orders/product/").content.decode()

    assert '<td class="field-shown_total">237.60 EUR</td>' in orders
    assert '<td class="field-shown_price">79.20 EUR</td>' in products
