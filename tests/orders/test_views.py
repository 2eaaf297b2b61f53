import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from core.models import Job, OutboxMessage
from core.operations.health import WORKER_KEY_PREFIX
from core.redis import redis_client
from core.tasking import jobs
from finance.models import Charge
from orders import tasks
from orders.models import Invoice, Order
from orders.selectors import CHARGE_TASK, INVOICE_TASK, PIPELINE_STEPS, PIPELINE_TASK
from tests.factories import OrderFactory, ProductFactory, StaffFactory, UserFactory

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


def test_htmx_click_answers_with_the_live_jobs_partial(client):
    order = OrderFactory()
    client.force_login(order.customer.user)

    response = client.post(f"/orders/{order.pk}/send-invoice/", HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="job-invoice" data-state="queued"' in page
    assert 'hx-trigger="every 1s"' in page


def test_sent_invoice_shows_done_and_stops_polling(client):
    order = OrderFactory()
    Invoice.objects.create(
        order=order, number="INV-T-1", requested_at=timezone.now(), sent_at=timezone.now(), status=Invoice.Status.SENT
    )
    client.force_login(order.customer.user)

    page = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    assert 'data-state="done"' in page
    assert "hx-trigger" not in page


def test_second_invoice_request_shows_the_reason_without_enqueuing(client):
    order = OrderFactory()
    Invoice.objects.create(
        order=order, number="INV-T-2", requested_at=timezone.now(), sent_at=timezone.now(), status=Invoice.Status.SENT
    )
    client.force_login(order.customer.user)

    response = client.post(f"/orders/{order.pk}/send-invoice/", follow=True)

    assert "INV-T-2 was already sent" in response.content.decode()
    assert not OutboxMessage.objects.exists()


@pytest.mark.usefixtures("redis_of_this_test")  # its heartbeat keys reach no other test
def test_running_and_retrying_come_from_the_job_row_of_the_outbox_id(client):
    # given an invoice click, whose job row the outbox wrote with its message
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post(f"/orders/{order.pk}/send-invoice/")
    task_id = str(OutboxMessage.objects.get().pk)
    queued = client.get(f"/orders/{order.pk}/jobs/").content.decode()
    redis_client().set(WORKER_KEY_PREFIX + "email@test", time.time(), ex=30)  # the worker is alive

    # when a worker starts it, then its first attempt fails and it waits to retry, then it starts again
    jobs.job_started(**_attempt(task_id, order, 1))
    running = client.get(f"/orders/{order.pk}/jobs/").content.decode()
    jobs.job_retrying(
        task_id=task_id, attempt=1, when=4.0, error="SMTPServerDisconnected: Connection unexpectedly closed"
    )
    retrying = client.get(f"/orders/{order.pk}/jobs/").content.decode()
    jobs.job_started(**_attempt(task_id, order, 2))
    running_again = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    # then the page follows each turn, and the retry shows its count and the error
    assert 'data-state="queued"' in queued and "waiting for a worker" in queued
    assert 'id="job-invoice" data-state="running"' in running
    assert 'id="job-invoice" data-state="retrying"' in retrying and "retrying (1)" in retrying
    assert "SMTPServerDisconnected: Connection unexpectedly closed" in retrying
    assert 'id="job-invoice" data-state="running"' in running_again


@pytest.mark.usefixtures("redis_of_this_test")  # its heartbeat keys reach no other test
def test_a_retry_recorded_after_the_next_attempt_started_does_not_hide_it(client):
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post(f"/orders/{order.pk}/send-invoice/")
    task_id = str(OutboxMessage.objects.get().pk)
    redis_client().set(WORKER_KEY_PREFIX + "email@test", time.time(), ex=30)  # the worker is alive

    # the next attempt, published with no countdown, starts before the failed one records its retry
    jobs.job_started(**_attempt(task_id, order, 2))
    jobs.job_retrying(task_id=task_id, attempt=1, when=0, error="SMTPServerDisconnected: late")

    assert 'id="job-invoice" data-state="running"' in client.get(f"/orders/{order.pk}/jobs/").content.decode()


@pytest.mark.usefixtures("redis_of_this_test")  # its heartbeat keys reach no other test
def test_a_started_task_whose_worker_stopped_beating_shows_worker_lost(client):
    # given an invoice task started by a worker with a fresh heartbeat
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post(f"/orders/{order.pk}/send-invoice/")
    worker = f"email@{uuid.uuid4().hex}"
    jobs.job_started(**_attempt(str(OutboxMessage.objects.get().pk), order, 1, worker=worker))
    redis_client().set(WORKER_KEY_PREFIX + worker, time.time(), ex=30)
    alive = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    # when its heartbeat expires (the worker was killed)
    redis_client().delete(WORKER_KEY_PREFIX + worker)
    lost = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    # then the page says running while it lives, and that the task will run again once it is gone
    assert 'data-state="running"' in alive
    assert 'data-state="lost"' in lost and "worker lost, will run again" in lost and "hx-trigger" in lost


def test_a_task_that_gave_up_shows_failed_with_its_reason(client):
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post(f"/orders/{order.pk}/send-invoice/")
    task_id = str(OutboxMessage.objects.get().pk)
    jobs.job_started(**_attempt(task_id, order, 6))
    jobs.job_finished(task_id=task_id, state=Job.State.FAILED, error="SMTPRecipientsRefused: no such mailbox")

    page = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    assert 'data-state="failed"' in page and "no such mailbox" in page
    assert "hx-trigger" not in page


def test_the_order_page_follows_its_tasks_by_their_registered_names():
    steps = (tasks.validate_order, tasks.charge_order, tasks.send_order_confirmation, tasks.update_inventory)

    assert (
        tasks.send_invoice_email.name,
        tasks.charge_order.name,
        tasks.start_pipeline.name,
    ) == (INVOICE_TASK, CHARGE_TASK, PIPELINE_TASK)
    assert [task for _step, task in PIPELINE_STEPS] == [step.name for step in steps]


def _attempt(task_id: str, order, attempt: int, worker: str = "email@test") -> dict:
    """What the task base class hands core.tasking.jobs when a worker starts an attempt of the invoice task."""
    return {
        "task_id": task_id,
        "task_name": INVOICE_TASK,
        "args": [order.pk],
        "kwargs": {},
        "root_id": task_id,
        "attempt": attempt,
        "worker": worker,
    }


def test_the_order_pages_show_every_amount_with_cents_and_currency(client):
    order = OrderFactory(
        items=[
            (ProductFactory(name="Hand grinder", price=Decimal("79.20")), 3),
            (ProductFactory(name="Ceramic mug", price=Decimal("12.5")), 1),
        ]
    )
    client.force_login(order.customer.user)

    detail = client.get(f"/orders/{order.pk}/").content.decode()
    listing = client.get("/orders/").content.decode()

    assert "<td>Hand grinder</td><td>3</td><td>79.20 EUR</td><td>237.60 EUR</td>" in detail
    assert "<td>Ceramic mug</td><td>1</td><td>12.50 EUR</td><td>12.50 EUR</td>" in detail
    assert '<th id="order-total">250.10 EUR</th>' in detail
    assert '<td class="amount">250.10 EUR</td>' in listing
    assert '<th class="amount" id="orders-total">250.10 EUR</th>' in listing


def test_customers_see_only_their_orders_and_no_operator_links(client):
    mine, theirs = OrderFactory(), OrderFactory()
    client.force_login(mine.customer.user)

    page = client.get("/orders/").content.decode()

    assert f"/orders/{mine.pk}/" in page and f"/orders/{theirs.pk}/" not in page
    assert "/admin/" not in page and "Flower" not in page and "/operations/" not in page


def test_staff_see_every_order_and_the_operator_links(client):
    first, second = OrderFactory(), OrderFactory()
    client.force_login(StaffFactory())

    page = client.get("/orders/").content.decode()

    assert f"/orders/{first.pk}/" in page and f"/orders/{second.pk}/" in page
    assert "/admin/" in page and "Flower" in page and "/operations/" in page


def test_charge_click_creates_a_pending_charge_and_enqueues_it_after_commit(client, django_capture_on_commit_callbacks):
    order = OrderFactory()
    client.force_login(order.customer.user)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/orders/{order.pk}/charge/", HTTP_HX_REQUEST="true")

    [message] = OutboxMessage.objects.all()
    assert message.task_name == "orders.charge_order" and message.args == [order.pk] and len(callbacks) == 1
    assert Charge.objects.get(order=order).status == Charge.Status.PENDING
    page = response.content.decode()
    assert 'id="job-charge" data-state="queued"' in page
    assert "Payment of 25.50 EUR queued." in page and "Payment 25.50 EUR" in page


def test_charging_a_paid_order_shows_why_and_enqueues_nothing(client):
    order = OrderFactory()
    Charge.objects.create(order=order, amount=order.total, currency="EUR", status=Charge.Status.SUCCEEDED)
    client.force_login(order.customer.user)

    page = client.post(f"/orders/{order.pk}/charge/", HTTP_HX_REQUEST="true").content.decode()

    assert "already paid" in page and 'id="job-charge" data-state="done"' in page
    assert not OutboxMessage.objects.exists()


def test_pipeline_click_enqueues_the_pipeline_and_shows_its_steps(client, django_capture_on_commit_callbacks):
    order = OrderFactory()
    client.force_login(order.customer.user)

    with django_capture_on_commit_callbacks():
        page = client.post(f"/orders/{order.pk}/run-pipeline/", HTTP_HX_REQUEST="true").content.decode()

    [message] = OutboxMessage.objects.all()
    assert message.task_name == "orders.start_pipeline" and message.args == [order.pk]
    assert 'id="job-pipeline" data-state="queued"' in page and "validate: waiting for a worker" in page
    assert '<li class="step queued" data-state="queued">Validate</li>' in page


def test_a_failed_pipeline_shows_the_step_and_the_reason(client):
    order = OrderFactory(
        status=Order.Status.FAILED,
        failure_reason="Not enough stock of Mug: 1 left, 2 ordered.",
        pipeline_queued_at=timezone.now(),
    )
    client.force_login(order.customer.user)

    page = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    assert 'id="job-pipeline" data-state="failed"' in page and "Not enough stock of Mug" in page
    assert '<li class="step failed" data-state="failed">Validate</li>' in page
    assert "hx-trigger" not in page


@pytest.mark.parametrize("action", ["send-invoice", "charge", "run-pipeline"])
def test_every_action_refuses_a_post_without_the_csrf_token(action):
    order = OrderFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(order.customer.user)

    response = client.post(f"/orders/{order.pk}/{action}/", HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert not OutboxMessage.objects.exists()


def test_an_invoice_sent_time_reads_the_same_in_the_refusal_and_the_job_in_the_project_zone(client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    order = OrderFactory()
    sent_at = datetime(2026, 11, 21, 18, 22, tzinfo=UTC)  # 19:22 in Berlin
    Invoice.objects.create(
        order=order, number="INV-T-3", requested_at=sent_at, sent_at=sent_at, status=Invoice.Status.SENT
    )
    client.force_login(order.customer.user)

    refusal = client.post(f"/orders/{order.pk}/send-invoice/", follow=True).content.decode()
    job = client.get(f"/orders/{order.pk}/jobs/").content.decode()

    assert "INV-T-3 was already sent on 2026-11-21 19:22." in refusal
    assert "emailed 2026-11-21 19:22" in job


def sent_invoice(order: Order, pdf: bytes) -> Invoice:
    invoice = Invoice(order=order, number=f"INV-{order.pk}", status=Invoice.Status.SENT, sent_at=timezone.now())
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(pdf))
    return invoice


def test_staff_download_a_sent_invoice_pdf_from_storage_and_nobody_else_does(client):
    order = OrderFactory()
    invoice = sent_invoice(order, b"%PDF-1.7 the invoice")
    url = f"/orders/{order.pk}/invoice.pdf"

    client.force_login(StaffFactory())
    staff_download = client.get(url)
    client.force_login(order.customer.user)
    customer_download = client.get(url)
    client.logout()
    anonymous_download = client.get(url)

    assert staff_download["Content-Type"] == "application/pdf"
    assert staff_download["Content-Disposition"] == f'inline; filename="{invoice.number}.pdf"'
    assert b"".join(staff_download.streaming_content) == b"%PDF-1.7 the invoice"
    assert customer_download.status_code == 404
    assert anonymous_download["Location"] == f"/login/?next={url}"


def test_an_invoice_without_a_stored_pdf_is_not_found(client):
    unsent, vanished = OrderFactory(), OrderFactory()
    Invoice.objects.create(order=unsent, number="INV-unsent")
    invoice = sent_invoice(vanished, b"%PDF")
    invoice.pdf.storage.delete(invoice.pdf.name)
    client.force_login(StaffFactory())

    assert client.get(f"/orders/{unsent.pk}/invoice.pdf").status_code == 404
    assert client.get(f"/orders/{vanished.pk}/invoice.pdf").status_code == 404


def test_only_staff_see_the_trace_id_of_a_job(client):
    # given an invoice click that was traced (its job row carries the trace id, as the outbox writes it)
    order = OrderFactory()
    client.force_login(order.customer.user)
    client.post(f"/orders/{order.pk}/send-invoice/")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    Job.objects.filter(pk=OutboxMessage.objects.get().pk).update(trace_id=trace_id)

    # when the customer, then staff, open the order
    customer_page = client.get(f"/orders/{order.pk}/").content.decode()
    client.force_login(StaffFactory())
    staff_page = client.get(f"/orders/{order.pk}/").content.decode()

    # then only staff see it, to look the trace up in the trace viewer
    assert trace_id not in customer_page
    assert f"trace <code>{trace_id}</code>" in staff_page
