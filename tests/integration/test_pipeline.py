"""The order pipeline on a real worker process: queued through the outbox, run as a chain of tasks."""

import pytest
from django.db import transaction

from core.models import DeadLetter
from core.tasking.outbox import enqueue
from finance.models import Charge
from orders import tasks
from orders.models import Customer, Order, Product
from orders.pipeline import pipeline_request
from tests.factories import OrderFactory, ProductFactory
from tests.finance.gateways import debits_of
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def queue_pipeline(order: Order) -> None:
    with transaction.atomic():
        pipeline_request(order=order)
        enqueue(tasks.start_pipeline, order.pk)


def test_an_order_goes_all_the_way_to_fulfilled(live_worker, mailsink):
    product = ProductFactory(stock=10)
    order = OrderFactory(items=[(product, 3)])

    queue_pipeline(order)

    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == Order.Status.FULFILLED,
        60,
        "order never fulfilled",
        live_worker,
    )
    [confirmation] = wait_until(lambda: mailsink.to(order.customer.email), 30, "no confirmation", live_worker)
    assert confirmation["Subject"] == f"Order #{order.pk} confirmed"
    assert Product.objects.get(pk=product.pk).stock == 7
    charge = Charge.objects.get(order=order)
    assert charge.status == Charge.Status.SUCCEEDED
    assert len(debits_of(order)) == 1


def test_a_shortage_fails_the_order_and_runs_no_later_step(live_worker, mailsink):
    product = ProductFactory(name="Pour-over kettle", stock=1)
    order = OrderFactory(items=[(product, 2)])

    queue_pipeline(order)

    failed = wait_until(
        lambda: Order.objects.filter(pk=order.pk, status=Order.Status.FAILED).first(),
        60,
        "order never failed",
        live_worker,
    )
    assert failed.failure_reason == "Not enough stock for Pour-over kettle: 2 ordered, 1 in stock."
    wait_until(lambda: "orders.validate_order[" in live_worker.output(), 30, "validation never logged", live_worker)
    assert not Charge.objects.filter(order=order).exists()
    assert Product.objects.get(pk=product.pk).stock == 1
    assert mailsink.to(order.customer.email) == []


def test_a_step_that_breaks_fails_the_order_through_the_error_callback(live_worker, mailsink):
    order = OrderFactory()
    # An address with a line break makes the mail library refuse it: a bug in the data, not a blip.
    Customer.objects.filter(pk=order.customer_id).update(email="buyer@example.com\nBcc: everyone@example.com")

    queue_pipeline(order)

    failed = wait_until(
        lambda: Order.objects.filter(pk=order.pk, status=Order.Status.FAILED).first(),
        60,
        "order never failed",
        live_worker,
    )
    assert failed.failure_reason.startswith("Step orders.send_order_confirmation could not complete")
    assert Charge.objects.get(order=order).status == Charge.Status.SUCCEEDED
    assert failed.inventory_updated_at is None
    # Celery runs the error callback before the task's on_failure, so the dead letter may land just after.
    wait_until(
        lambda: DeadLetter.objects.filter(task_name="orders.send_order_confirmation", args=[order.pk]).exists(),
        30,
        "the failed step left no dead letter",
        live_worker,
    )
