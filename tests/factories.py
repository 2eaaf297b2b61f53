"""factory_boy factories for the suite."""

from decimal import Decimal

import factory
from django.contrib.auth.models import User

from orders.models import Customer, Order, OrderItem, Product

PASSWORD = "a-good-password"  # every factory user's, for tests that sign in through the login form


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)


class StaffFactory(UserFactory):
    is_staff = True


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.LazyAttribute(lambda customer: customer.user.email)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")
    stock = 100


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)

    @factory.post_generation
    def items(order, create, extracted, **kwargs):
        """Two lines by default; pass items=[(product, quantity), …] to choose."""
        lines = (
            extracted if extracted is not None else [(ProductFactory(), 2), (ProductFactory(price=Decimal("5.50")), 1)]
        )
        for product, quantity in lines:
            OrderItem.objects.create(order=order, product=product, quantity=quantity, unit_price=product.price)
