import threading
from decimal import Decimal

import pytest
from django.db import connection

from core.exceptions import ProjectError
from finance.models import Charge
from finance.selectors import charge_for_order
from orders import pipeline, tasks
from orders.models import Order
from tests.factories import OrderFactory, ProductFactory
from tests.finance.gateways import debits_of

pytestmark = pytest.mark.django_db


def test_pipeline_request_queues_a_new_order_once():
    order = OrderFactory()

    queued = pipeline.pipeline_request(order=order)

    assert queued.pipeline_queued_at is not None
    with pytest.raises(ProjectError, match="already being processed"):
        pipeline.pipeline_request(order=order)


def test_a_failed_order_may_be_queued_again():
    order = OrderFactory(status=Order.Status.FAILED, failure_reason="Not enough stock")

    queued = pipeline.pipeline_request(order=order)

    assert queued.status == Order.Status.NEW and queued.failure_reason == ""


def test_an_order_paid_with_the_charge_button_runs_on_without_a_second_charge(eager, instant_gateway, mailsink):
    product = ProductFactory(stock=4)
    order = OrderFactory(items=[(product, 1)])
    tasks.charge_order.apply(args=[order.pk])

    pipeline.pipeline_request(order=order)
    tasks.start_pipeline.apply(args=[order.pk])

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert Charge.objects.filter(order=order).count() == 1
    assert len(debits_of(order)) == 1


def test_order_charge_debits_once_and_marks_the_order_paid(instant_gateway):
    order = OrderFactory()

    charge = pipeline.order_charge(order_id=order.pk)
    again = pipeline.order_charge(order_id=order.pk)

    assert again.pk == charge.pk and charge.status == Charge.Status.SUCCEEDED
    assert charge.gateway_reference.startswith("sim_") and charge.succeeded_at is not None
    assert [debit["idempotency_key"] for debit in debits_of(order)] == [charge.idempotency_key]
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_lost_response_is_retried_with_the_same_key_and_debits_once(lost_responses):
    order = OrderFactory()
    lost_responses.lost = 1

    with pytest.raises(ConnectionError):
        pipeline.order_charge(order_id=order.pk)
    charge = pipeline.order_charge(order_id=order.pk)

    assert charge.status == Charge.Status.SUCCEEDED and charge.attempts == 2
    assert lost_responses.keys_sent == [charge.idempotency_key] * 2
    assert len(debits_of(order)) == 1


def test_a_declined_charge_is_final_and_fails_the_order(instant_gateway):
    order = OrderFactory(items=[(ProductFactory(price=Decimal("20000.00")), 1)])

    with pytest.raises(ProjectError, match="declined"):
        pipeline.order_charge(order_id=order.pk)

    charge = charge_for_order(order_id=order.pk)
    assert charge.status == Charge.Status.FAILED
    assert charge.failure_reason == "The card was declined: 20000.00 EUR is above its limit."
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and "declined" in order.failure_reason
    assert debits_of(order) == []
    with pytest.raises(ProjectError, match="declined"):  # a redelivery does not try again
        pipeline.order_charge(order_id=order.pk)
    assert Charge.objects.filter(order=order).count() == 1


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_runs_make_one_charge_and_one_debit(instant_gateway):
    instant_gateway.PAYMENT_GATEWAY_LATENCY_MS = 50  # widen the window in which runs overlap
    order = OrderFactory()
    start = threading.Barrier(10)
    outcomes = []

    def run():
        start.wait()
        try:
            outcomes.append(pipeline.order_charge(order_id=order.pk).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 10 and len(set(outcomes)) == 1
    charge = Charge.objects.get(order=order)
    assert charge.status == Charge.Status.SUCCEEDED
    assert len(debits_of(order)) == 1


def test_a_fulfilled_order_is_not_queued():
    with pytest.raises(ProjectError, match="already fulfilled"):
        pipeline.pipeline_request(order=OrderFactory(status=Order.Status.FULFILLED))


def test_validation_fails_the_order_with_the_shortage():
    grinder = ProductFactory(name="Hand grinder", stock=1)
    order = OrderFactory(items=[(grinder, 2)])

    with pytest.raises(ProjectError, match="Not enough stock for Hand grinder: 2 ordered, 1 in stock"):
        pipeline.order_validate(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and "Hand grinder" in order.failure_reason


def test_inventory_is_decremented_once_however_often_the_step_runs(mailsink):
    product = ProductFactory(stock=10)
    order = OrderFactory(items=[(product, 3)], status=Order.Status.PAID)
    pipeline.order_confirmation_send(order_id=order.pk)

    pipeline.order_inventory_update(order_id=order.pk)
    pipeline.order_inventory_update(order_id=order.pk)

    product.refresh_from_db()
    order.refresh_from_db()
    assert product.stock == 7
    assert order.status == Order.Status.FULFILLED and order.inventory_updated_at is not None


def test_confirmation_is_sent_once(mailsink):
    order = OrderFactory(status=Order.Status.PAID)

    pipeline.order_confirmation_send(order_id=order.pk)
    pipeline.order_confirmation_send(order_id=order.pk)

    [message] = mailsink.to(order.customer.email)
    assert message["Subject"] == f"Order #{order.pk} confirmed"
    assert "we received your payment of 25.50 EUR for:" in message.get_content()


def test_an_unpaid_order_is_not_confirmed(mailsink):
    order = OrderFactory(status=Order.Status.VALIDATED)

    with pytest.raises(ProjectError, match="cannot be confirmed"):
        pipeline.order_confirmation_send(order_id=order.pk)

    assert mailsink.to(order.customer.email) == []


def test_the_chain_runs_every_step_in_order(eager, instant_gateway, mailsink):
    product = ProductFactory(stock=5)
    order = OrderFactory(items=[(product, 2)])

    tasks.start_pipeline.apply(args=[order.pk])

    order.refresh_from_db()
    product.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert Charge.objects.get(order=order).status == Charge.Status.SUCCEEDED
    assert product.stock == 3
    assert len(mailsink.to(order.customer.email)) == 1


def test_a_failing_step_stops_the_chain(eager, mailsink):
    product = ProductFactory(stock=1)
    order = OrderFactory(items=[(product, 2)])

    tasks.start_pipeline.apply(args=[order.pk])

    order.refresh_from_db()
    assert order.status == Order.Status.FAILED and "Not enough stock" in order.failure_reason
    assert not Charge.objects.filter(order=order).exists()
    assert mailsink.to(order.customer.email) == []


def test_a_step_that_gives_up_fails_the_order_through_the_error_callback(eager, mailsink, monkeypatch):
    order = OrderFactory()

    def unreachable(**kwargs):
        raise ConnectionError("gateway down")

    monkeypatch.setattr("finance.gateways.SimulatedGateway.charge", lambda self, **kwargs: unreachable())

    tasks.start_pipeline.apply(args=[order.pk])

    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    assert "orders.charge_order could not complete" in order.failure_reason
    assert mailsink.to(order.customer.email) == []
