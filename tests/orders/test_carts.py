from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services, tasks
from orders.models import Cart, CartItem
from tests.factories import CustomerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def make_carts(count: int, *, expires_in: timedelta) -> list[Cart]:
    customer = CustomerFactory()
    product = ProductFactory()
    carts = Cart.objects.bulk_create(
        [Cart(customer=customer, expires_at=timezone.now() + expires_in) for _ in range(count)]
    )
    CartItem.objects.bulk_create([CartItem(cart=cart, product=product) for cart in carts])
    return carts


def test_expired_carts_are_deleted_in_batches_and_live_ones_kept():
    make_carts(7, expires_in=-timedelta(minutes=1))
    live = make_carts(2, expires_in=timedelta(hours=1))

    deleted = services.carts_delete_expired(batch_size=3)

    assert deleted == 7
    assert set(Cart.objects.values_list("pk", flat=True)) == {cart.pk for cart in live}
    assert CartItem.objects.count() == 2


def test_the_hourly_task_cleans_up():
    make_carts(3, expires_in=-timedelta(seconds=1))

    tasks.cleanup_expired_carts.apply()

    assert not Cart.objects.exists()
