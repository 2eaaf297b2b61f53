"""The broker down or killed: a click still succeeds at once and its task runs once the broker is back
(transactional outbox), and a Redis killed with 10,000 tasks queued comes back with all of them."""

import base64
import json
import signal
import sys
import time

import pytest
import redis
from django.db import transaction
from kombu import Connection, Queue

from core.models import OutboxMessage
from core.tasking import outbox
from orders import tasks
from orders.models import Invoice, OrderExport
from tests.factories import OrderFactory
from tests.reliability.conftest import redis_broker_only
from tests.support.processes import ManagedProcess, process_env, start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

QUEUED_BEFORE_CRASH = 10_000


def relay(process_logs, broker_url: str, name: str = "relay") -> ManagedProcess:
    return ManagedProcess(
        name,
        [sys.executable, "manage.py", "relay_outbox", "--interval", "0.2"],
        process_env(CELERY_BROKER_URL=broker_url),
        process_logs,
    )


def test_click_with_the_broker_down_succeeds_fast_and_runs_once_the_broker_is_back(
    client, private_redis, app_broker, mailsink, process_logs
):
    # given a customer, and the broker down at the moment they click
    order = OrderFactory()
    client.force_login(order.customer.user)
    app_broker(private_redis.url)
    private_redis.kill()

    # when they click Send invoice
    started = time.monotonic()
    response = client.post(f"/orders/{order.pk}/send-invoice/", follow=True)
    click_seconds = time.monotonic() - started

    # then the page says queued at once, and the message waits in the outbox
    assert "queued" in response.content.decode()
    message = OutboxMessage.objects.get()
    assert message.published_at is None and message.last_error
    print(f"click with the broker down answered in {click_seconds:.2f}s")

    # when the broker is back and the relay runs
    private_redis.start()
    worker = start_worker(
        process_logs,
        name="outage-worker",
        CELERY_BROKER_URL=private_redis.url,
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )
    relayer = relay(process_logs, private_redis.url)  # it takes the row once older than outbox.RELAY_GRACE
    try:
        # then the invoice is emailed, once
        wait_until(lambda: mailsink.to(order.customer.email), 60, "invoice never emailed", worker)
        message.refresh_from_db()
        assert message.published_at is not None

        # and when the same message is relayed a second time (a relay that died before marking it sent)
        outbox._send(message)
        wait_until(lambda: worker.output().count(f"[{message.pk}] succeeded") == 2, 60, "second copy never ran", worker)

        # then it was absorbed: still one email
        assert len(mailsink.to(order.customer.email)) == 1
        assert Invoice.objects.get(order=order).sent_at is not None
    finally:
        relayer.stop()
        worker.stop()


def test_a_relay_killed_mid_run_loses_nothing(private_redis, app_broker, mailsink, process_logs):
    # given invoice tasks committed while the broker was down
    app_broker(private_redis.url)
    private_redis.kill()
    orders = [OrderFactory() for _ in range(12)]
    with transaction.atomic():
        for order in orders:
            outbox.enqueue(tasks.send_invoice_email, order.pk)
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == len(orders)
    private_redis.start()

    # when a relay is killed as soon as it has sent something, and another takes over
    broker = redis.Redis(port=private_redis.port)
    first = relay(process_logs, private_redis.url, "relay-killed")
    wait_until(lambda: broker.llen("email") > 0, 60, "relay sent nothing", first)
    first.signal(signal.SIGKILL)
    first.stop()
    second = relay(process_logs, private_redis.url, "relay-second")
    worker = start_worker(
        process_logs,
        name="relay-worker",
        CELERY_BROKER_URL=private_redis.url,
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )
    try:
        # then every invoice is emailed exactly once and every row is marked published
        for order in orders:
            wait_until(lambda order=order: mailsink.to(order.customer.email), 90, "an invoice was lost", worker)
        wait_until(
            lambda: not OutboxMessage.objects.filter(published_at__isnull=True).exists(),
            30,
            "rows left unpublished",
            second,
        )
        assert all(len(mailsink.to(order.customer.email)) == 1 for order in orders)
    finally:
        second.stop()
        worker.stop()


def test_export_clicked_with_the_broker_down_is_emailed_once_the_broker_is_back(
    client, private_redis, app_broker, mailsink, process_logs
):
    # given a customer, and the broker down at the moment they click Export my orders (a django.tasks task)
    order = OrderFactory()
    user = order.customer.user
    client.force_login(user)
    app_broker(private_redis.url)
    private_redis.kill()

    # when they click
    response = client.post("/orders/export/", follow=True)

    # then the page says queued, and the message waits in the outbox
    assert "Export queued" in response.content.decode()
    export = OrderExport.objects.get()
    message = OutboxMessage.objects.get(pk=export.task_id)
    assert message.published_at is None and message.last_error

    # when the broker is back and the relay runs
    private_redis.start()
    worker = start_worker(
        process_logs,
        name="export-outage-worker",
        CELERY_BROKER_URL=private_redis.url,
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )
    relayer = relay(process_logs, private_redis.url, "export-relay")
    try:
        # then the CSV is emailed once, and Django's result says so
        wait_until(lambda: mailsink.to(user.email), 60, "export never emailed", worker)
        outbox._send(message)  # and a second copy, as from a relay that died before marking it sent
        wait_until(lambda: worker.output().count(f"[{message.pk}] succeeded") == 2, 60, "second copy never ran", worker)
        assert len(mailsink.to(user.email)) == 1
        assert tasks.export_orders_csv.get_result(export.task_id).return_value == 1
    finally:
        relayer.stop()
        worker.stop()


@redis_broker_only
def test_redis_killed_and_restarted_with_10000_tasks_queued_loses_none(private_redis):
    # given 10,000 task messages queued on a Redis with the compose file's persistence
    with Connection(private_redis.url) as connection:
        producer = connection.Producer(serializer="json")
        for number in range(QUEUED_BEFORE_CRASH):
            producer.publish({"number": number}, routing_key="bulk", declare=[Queue("bulk")])
    wait_until(private_redis.append_only_file_written, 30, "Redis never wrote its append-only file")

    # when Redis is killed without warning and started again from its files
    private_redis.kill()
    private_redis.start()

    # then every message is still there, each once
    stored = redis.Redis(port=private_redis.port).lrange("bulk", 0, -1)
    numbers = [json.loads(base64.b64decode(json.loads(item)["body"]))["number"] for item in stored]
    assert sorted(numbers) == list(range(QUEUED_BEFORE_CRASH))
