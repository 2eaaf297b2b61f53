import pytest

from core.exceptions import ProjectError
from finance.models import Charge
from finance.tasks import charge_customer
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
    charge_customer.apply(args=[order.pk])

    pipeline.pipeline_request(order=order)
    tasks.start_pipeline.apply(args=[order.pk])

    order.refresh_from_db()
    assert order.status == Order.Status.FULFILLED
    assert Charge.objects.filter(order=order).count() == 1
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
    assert "finance.charge_customer could not complete" in order.failure_reason
    assert mailsink.to(order.customer.email) == []
