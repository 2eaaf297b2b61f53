"""Export my orders: the click enqueues a django.tasks task after commit; the task writes the CSV of the user's
orders and emails it once; the list shows the export and its file to its owner only."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import OutboxMessage
from core.tasking.django_tasks import RUNNERS
from orders import services
from orders.models import OrderExport
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_click_enqueues_the_export_after_commit(client, django_capture_on_commit_callbacks):
    order = OrderFactory()
    client.force_login(order.customer.user)

    with django_capture_on_commit_callbacks() as publishes:
        response = client.post("/orders/export/", follow=True)

    export = OrderExport.objects.get()
    message = OutboxMessage.objects.get(pk=export.task_id)
    assert (message.task_name, message.queue) == ("core.run_django_task_email", "email")
    assert message.args == ["orders.tasks.export_orders_csv", [export.pk], {}]
    assert len(publishes) == 1
    assert f"the CSV will be emailed to {order.customer.user.email}" in response.content.decode()
    assert 'data-state="queued"' in response.content.decode()


def test_the_export_holds_only_the_users_orders_and_is_emailed_once(mailsink):
    # given a customer with two orders, and someone else's order
    mine = [OrderFactory(), None]
    mine[1] = OrderFactory(customer=mine[0].customer)
    OrderFactory()
    user = mine[0].customer.user
    export = services.order_export_request(user=user)

    # when the export runs twice (a redelivered message)
    services.order_export_send(export_id=export.pk)
    services.order_export_send(export_id=export.pk)

    # then one email carries a CSV of exactly their orders, with totals and currency
    [mail] = mailsink.to(user.email)
    attachment = next(part for part in mail.walk() if part.get_filename())
    rows = list(csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode())))
    assert sorted(int(row["order"]) for row in rows) == sorted(order.pk for order in mine)
    assert {row["currency"] for row in rows} == {"EUR"} and all("." in row["total"] for row in rows)
    export.refresh_from_db()
    assert export.orders == 2 and export.emailed_at is not None


def test_the_list_links_the_finished_export_for_its_owner_only(client, mailsink, eager):
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post("/orders/export/")
    export = OrderExport.objects.get()
    message = OutboxMessage.objects.get(pk=export.task_id)
    RUNNERS["email"].apply(args=message.args, task_id=export.task_id)  # what the worker does

    page = client.get("/orders/").content.decode()
    download = client.get(f"/orders/exports/{export.pk}/")

    assert 'data-state="done"' in page and f"/orders/exports/{export.pk}/" in page
    assert download.status_code == 200 and str(order.pk) in b"".join(download.streaming_content).decode()
    client.force_login(UserFactory())
    assert client.get(f"/orders/exports/{export.pk}/").status_code == 404


def test_a_second_export_within_a_minute_is_refused_with_a_message(client):
    # given a customer who just asked for an export
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post("/orders/export/")

    # when they click again, and again a minute later
    again = client.post("/orders/export/", follow=True).content.decode()
    OrderExport.objects.update(requested_at=timezone.now() - timedelta(minutes=1, seconds=1))
    later = client.post("/orders/export/", follow=True).content.decode()

    # then the second click is told why and queues nothing; the third queues the next export
    assert "requested less than a minute ago" in again
    assert "the CSV will be emailed" in later
    assert OrderExport.objects.count() == 2 and OutboxMessage.objects.count() == 2
