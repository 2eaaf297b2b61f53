"""A worker killed mid-task with no one to tell: the order page says the worker was lost and the task will
run again, and it does run again on another worker within the broker's bound (Redis: the visibility timeout
plus kombu's 10 s sweep; RabbitMQ: at once, when the dead worker's connection closes)."""

import os
import signal
import time

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from core.tasking import outbox
from orders import services, tasks
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.reliability.conftest import HoldingMailSink, broker_is_redis
from tests.support import embedded
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Above the 30 s a killed worker's heartbeat takes to expire, so on Redis the page can show the lost state
# before the task comes back; production uses 270 s (settings.CELERY_VISIBILITY_TIMEOUT).
VISIBILITY_TIMEOUT = 45
RESTORE_SWEEP_SECONDS = 10  # settings.CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"]
RABBITMQ_BOUND_SECONDS = 30
SLACK_SECONDS = 15  # Redis: the scan's timer drifts on a loaded machine
# The killed worker's mail is held until the kill; the new worker's goes through.
HOLD_UNTIL_KILLED_SECONDS = 600


@pytest.fixture
def stalling_mailsink():
    sink = HoldingMailSink(hold_seconds=HOLD_UNTIL_KILLED_SECONDS)
    controller = Controller(sink, hostname="127.0.0.1", port=embedded.free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


def test_a_task_whose_worker_was_killed_shows_worker_lost_and_runs_again(
    client, private_redis, app_broker, stalling_mailsink, process_logs
):
    # given an invoice being sent by worker A, and worker B idle on the same queue
    if broker_is_redis():
        app_broker(private_redis.url)
    broker_env = {"CELERY_BROKER_URL": private_redis.url} if broker_is_redis() else {}
    env = {
        "EMAIL_PORT": str(stalling_mailsink.port),
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "DJANGO_MEDIA_ROOT": str(process_logs / "media"),
        **broker_env,
    }
    order = OrderFactory()
    client.force_login(order.customer.user)
    first = start_worker(process_logs, name="lost-a", queues="email", concurrency=1, **env)
    second = None
    try:
        with transaction.atomic():
            services.invoice_request(order=order)
            outbox.enqueue(tasks.send_invoice_email, order.pk)
        wait_until(stalling_mailsink.holding, 60, "the invoice never reached the mail server", first)
        # A task's running mark is written once it has run for jobs.RUNNING_MARK_DELAY.
        running = wait_until(
            lambda: (
                'data-state="running"' in (page := client.get(f"/orders/{order.pk}/jobs/").content.decode()) and page
            ),
            10,
            "the page never showed the invoice running",
            first,
        )
        second = start_worker(process_logs, name="lost-b", queues="email", concurrency=1, **env)

        # when worker A and its pool are killed without warning
        stalling_mailsink.hold_seconds = 0
        os.killpg(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.stop()

        # then, while the task waits for the broker to hand it back, the page says so (on Redis; RabbitMQ
        # hands it to B at once), and the task runs again on B within the broker's bound
        lost_seen_after = None
        redis_bound = VISIBILITY_TIMEOUT + RESTORE_SWEEP_SECONDS + SLACK_SECONDS
        bound = redis_bound if broker_is_redis() else RABBITMQ_BOUND_SECONDS
        while time.monotonic() < killed_at + bound:
            page = client.get(f"/orders/{order.pk}/jobs/").content.decode()
            if lost_seen_after is None and "worker lost, will run again" in page:
                lost_seen_after = time.monotonic() - killed_at
            if Invoice.objects.filter(order=order, sent_at__isnull=False).exists():
                break
            time.sleep(0.5)
        ran_again_after = time.monotonic() - killed_at
        assert Invoice.objects.get(order=order).sent_at is not None, f"not run again within {bound}s"
        assert 'data-state="running"' in running
        if broker_is_redis():
            assert lost_seen_after is not None, "the page never said the worker was lost"
        assert " succeeded in " in second.output()
        assert list(stalling_mailsink.count_by_message_id().values()) == [1]
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
    lost = "never (handed back at once)" if lost_seen_after is None else f"after {lost_seen_after:.1f}s"
    print(f"\nworker killed: page said lost {lost}, task ran again after {ran_again_after:.1f}s")
