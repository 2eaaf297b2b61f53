import pytest

from core.models import OutboxMessage
from orders.models import Invoice
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_send_invoice_enqueues_only_after_commit(client, django_capture_on_commit_callbacks):
    order = OrderFactory()
    client.force_login(order.customer.user)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/orders/{order.pk}/send-invoice/")

    assert response.status_code == 302
    [message] = OutboxMessage.objects.all()
    assert message.task_name == "orders.send_invoice_email" and message.args == [order.pk]
    assert message.queue == "email" and len(callbacks) == 1
    assert Invoice.objects.get(order=order).requested_at is not None


def test_another_customers_order_is_not_found(client):
    order = OrderFactory()
    client.force_login(UserFactory())

    assert client.get(f"/orders/{order.pk}/").status_code == 404
    assert client.post(f"/orders/{order.pk}/send-invoice/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_anonymous_users_are_sent_to_sign_in(client):
    order = OrderFactory()

    response = client.post(f"/orders/{order.pk}/send-invoice/")

    assert response.status_code == 302 and response["Location"].startswith("/login/")
