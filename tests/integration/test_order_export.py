"""Export my orders through a real worker: the click answers at once, the CSV arrives by email and the list
links it."""

import pytest

from orders import tasks
from orders.models import OrderExport
from tests.factories import OrderFactory
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_exports_their_orders_and_gets_the_csv(client, live_worker, mailsink, settings, process_logs):
    settings.MEDIA_ROOT = process_logs / "media"  # where the live worker stores files
    order = OrderFactory()
    client.force_login(order.customer.user)

    client.post("/orders/export/")

    [mail] = wait_until(lambda: mailsink.to(order.customer.user.email), 60, "export never emailed", live_worker)
    assert mail["Subject"] == "Your orders export (1 order)"
    export = OrderExport.objects.get()
    # The email goes out inside the task; its job row is finished just after it returns.
    result = wait_until(
        lambda: (result := tasks.export_orders_csv.get_result(export.task_id)).is_finished and result,
        30, "the export's job row never finished", live_worker,
    )  # fmt: skip
    assert (result.status, result.return_value) == ("SUCCESSFUL", 1)
    page = client.get("/orders/").content.decode()
    assert 'data-state="done"' in page
    download = client.get(f"/orders/exports/{export.pk}/")
    assert f"{order.pk}," in b"".join(download.streaming_content).decode()
