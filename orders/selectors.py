"""Reads for orders: what a user may see, and the state of an order's background jobs."""

from django.db.models import QuerySet

from orders.models import Order


def orders_visible_to(*, user) -> QuerySet[Order]:
    """Staff see every order; a customer only their own; anyone else nothing."""
    orders = Order.objects.select_related("customer", "invoice")
    if user.is_staff:
        return orders
    return orders.filter(customer__user=user)
