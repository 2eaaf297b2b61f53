"""Services for the order pipeline (validate → charge → confirm → update inventory): each step is safe to
run twice, records its own domain failure on the order and raises ProjectError to stop the chain. The order's
lifecycle is coded here alone: the charge step calls finance's services and records their outcome."""

import logging
from collections import Counter

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import ProjectError
from core.money import format_money
from finance.models import Charge
from finance.selectors import charge_for_order
from finance.services import charge_begin, charge_collect, charge_request, charge_settle
from orders.models import Order, Product

logger = logging.getLogger(__name__)


@transaction.atomic
def pipeline_request(*, order: Order) -> Order:
    """Mark the order as queued for the pipeline; refuses while a run is under way or once it is fulfilled.

    A failed order may be queued again, and an order paid with the Charge button may be queued: steps
    already passed (a succeeded charge, a sent confirmation) are not repeated."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == Order.Status.FULFILLED:
        raise ProjectError(f"Order #{order.pk} is already fulfilled.")
    if order.pipeline_queued_at is not None and order.status != Order.Status.FAILED:
        raise ProjectError(f"Order #{order.pk} is already being processed.")
    if order.status == Order.Status.FAILED:
        order.status = Order.Status.NEW
        order.failure_reason = ""
    order.pipeline_queued_at = timezone.now()
    order.save(update_fields=["status", "failure_reason", "pipeline_queued_at"])
    return order


def order_fail(*, order_id: int, reason: str) -> Order:
    """Record why the pipeline stopped; the first recorded reason wins over later, vaguer ones."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != Order.Status.FAILED:
            order.status = Order.Status.FAILED
            order.failure_reason = reason
            order.save(update_fields=["status", "failure_reason"])
            logger.warning("order #%s failed: %s", order_id, reason)
    return order


def order_fail_after_step(*, order_id: int, step: str, task_id: str, error: BaseException) -> Order:
    """A pipeline step's task failed for good: a domain failure keeps the reason its service gave, anything
    else says which step gave up and where staff find it."""
    if isinstance(error, ProjectError):
        reason = str(error)
    else:
        reason = f"Step {step} could not complete and was handed to staff (task {task_id})."
    return order_fail(order_id=order_id, reason=reason)


def order_validate(*, order_id: int) -> Order:
    """Check the order has items and enough stock for each; a shortage fails the order with its reason."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.FAILED:
            raise ProjectError(order.failure_reason or f"Order #{order_id} failed.")
        if order.status != Order.Status.NEW:
            return order  # validated before: a redelivery
        reason = _stock_shortage(order)
        if reason is None:
            order.status = Order.Status.VALIDATED
            order.save(update_fields=["status"])
            return order
    order_fail(order_id=order_id, reason=reason)
    raise ProjectError(reason)


@transaction.atomic
def order_charge_request(*, order: Order) -> Charge:
    """The Charge button: the order's pending charge for its current total, for `orders.charge_order` to run."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    return charge_request(order_id=order.pk, amount=order.total)


def order_charge(*, order_id: int) -> Charge:
    """Charge the order once, whatever the retries, redeliveries and concurrent runs, and record paid or failed.

    The order row lock serialises runs on our side while finance finds or creates the charge (its partial
    unique constraint backs it); the charge's idempotency key makes the gateway debit once even when two runs
    both call it. Transient gateway errors propagate for the task to retry; a decline is final and fails the
    order."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("customer").get(pk=order_id)
        charge = charge_for_order(order_id=order_id)
        if order.status == Order.Status.FAILED and charge is not None and charge.status == Charge.Status.FAILED:
            raise ProjectError(charge.failure_reason)  # a redelivery of the declined run: do not charge again
        charge = charge_begin(order_id=order_id, amount=order.total)
        if charge.status == Charge.Status.SUCCEEDED:
            _order_mark_paid(order)
            return charge
    outcome = charge_collect(charge=charge, customer_reference=f"customer-{order.customer_id}")
    with transaction.atomic():  # the charge and the order record the outcome together
        order = Order.objects.select_for_update().get(pk=order_id)
        charge = charge_settle(outcome=outcome)
        if charge.status == Charge.Status.SUCCEEDED:
            _order_mark_paid(order)
            return charge
        order_fail(order_id=order_id, reason=charge.failure_reason)
    raise ProjectError(charge.failure_reason)


def _order_mark_paid(order: Order) -> None:
    """With the order row locked; a payment that went through after a decline clears the decline."""
    if order.status in {Order.Status.NEW, Order.Status.VALIDATED, Order.Status.FAILED}:
        order.status = Order.Status.PAID
        order.failure_reason = ""
        order.save(update_fields=["status", "failure_reason"])


@transaction.atomic
def order_confirmation_send(*, order_id: int) -> Order:
    """Email the confirmation once. The row lock makes a concurrent delivery wait and then find it sent."""
    order = Order.objects.select_for_update().select_related("customer").get(pk=order_id)
    if order.confirmation_sent_at is not None:
        return order  # sent by an earlier delivery or an earlier run of the pipeline
    if order.status != Order.Status.PAID:
        raise ProjectError(f"Order #{order_id} cannot be confirmed while it is {order.get_status_display().lower()}.")
    lines = "\n".join(f"  {item.quantity} × {item.product.name}" for item in order.items.select_related("product"))
    EmailMessage(
        subject=f"Order #{order.pk} confirmed",
        body=f"Hello {order.customer.name},\n\nwe received your payment of {format_money(order.total)} for:\n{lines}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer.email],
        headers={"Message-ID": f"<order-{order.pk}-confirmation@{settings.DEFAULT_FROM_EMAIL.split('@')[-1]}>"},
    ).send()
    order.status = Order.Status.CONFIRMED
    order.confirmation_sent_at = timezone.now()
    order.save(update_fields=["status", "confirmation_sent_at"])
    return order


def order_inventory_update(*, order_id: int) -> Order:
    """Take the ordered quantities out of stock exactly once: inventory_updated_at is set in the same
    transaction, under the same row lock, as the decrement."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.inventory_updated_at is not None:
            return order
        if order.confirmation_sent_at is None or order.status == Order.Status.FAILED:
            raise ProjectError(f"Order #{order_id} is {order.get_status_display().lower()}, not confirmed.")
        reason = _stock_shortage(order)
        if reason is None:
            quantities = _quantities(order)
            # Locked in id order so two orders sharing products cannot deadlock.
            list(Product.objects.select_for_update().filter(pk__in=quantities).order_by("pk"))
            for product_id, quantity in quantities.items():
                Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)
            order.status = Order.Status.FULFILLED
            order.inventory_updated_at = timezone.now()
            order.save(update_fields=["status", "inventory_updated_at"])
            return order
    order_fail(order_id=order_id, reason=reason)
    raise ProjectError(reason)


def _quantities(order: Order) -> Counter:
    quantities = Counter()
    for product_id, quantity in order.items.values_list("product_id", "quantity"):
        quantities[product_id] += quantity
    return quantities


def _stock_shortage(order: Order) -> str | None:
    quantities = _quantities(order)
    if not quantities:
        return f"Order #{order.pk} has no items."
    for product in Product.objects.filter(pk__in=quantities).order_by("name"):
        if product.stock < quantities[product.pk]:
            return f"Not enough stock for {product.name}: {quantities[product.pk]} ordered, {product.stock} in stock."
    return None
