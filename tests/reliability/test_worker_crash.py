"""A worker killed with SIGKILL in the middle of sending invoices, the whole worker and only a pool child:
every task completes, and every invoice is emailed exactly once."""

import os
import signal

import psutil
import pytest
from django.db import transaction

from core import outbox
from orders import tasks
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

INVOICES = 20
# 20 kills in all: whole-worker kills cost a restart and a visibility timeout each, so fewer of them.
WHOLE_WORKER_KILLS = 5
POOL_CHILD_KILLS = 15
# Redis hands an unacknowledged message back after the visibility timeout: short here so a killed
# worker's task returns within the test. Every task here finishes far below it.
SHORT_VISIBILITY_TIMEOUT = "10"


def enqueue_invoices(count: int) -> list[int]:
    order_ids = [OrderFactory().pk for _ in range(count)]
    with transaction.atomic():
        for order_id in order_ids:
            outbox.enqueue(tasks.send_invoice_email, order_id)
    return order_ids


def start_crash_worker(process_logs, sink, name: str):
    return start_worker(
        process_logs, name=name, queues="email", concurrency=2, EMAIL_PORT=str(sink.port),
        CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY_TIMEOUT, DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )


def assert_each_invoice_emailed_once(order_ids, sink, worker):
    wait_until(
        lambda: Invoice.objects.filter(order_id__in=order_ids, sent_at__isnull=False).count() == len(order_ids),
        120, "not every invoice was sent", worker,
    )
    numbers = set(Invoice.objects.filter(order_id__in=order_ids).values_list("number", flat=True))
    sent = sink.count_by_message_id()
    assert {message_id.strip("<>").split("@")[0] for message_id in sent} == numbers
    assert set(sent.values()) == {1}, f"duplicated emails: {sent}"


def test_killing_the_whole_worker_mid_task_loses_and_doubles_nothing(holding_mailsink, process_logs):
    # given invoices queued and a worker sending them
    order_ids = enqueue_invoices(INVOICES)
    worker = start_crash_worker(process_logs, holding_mailsink, "crash-whole-0")

    # when the worker and its pool are killed while a mail is in flight, again and again
    for kill in range(1, WHOLE_WORKER_KILLS + 1):
        wait_until(holding_mailsink.holding, 60, "no task reached the mail server", worker)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.stop()
        worker = start_crash_worker(process_logs, holding_mailsink, f"crash-whole-{kill}")

    # then every task completed (redelivered after the visibility timeout on Redis, at once on AMQP)
    try:
        assert_each_invoice_emailed_once(order_ids, holding_mailsink, worker)
    finally:
        worker.stop()


def test_killing_a_pool_child_mid_task_loses_and_doubles_nothing(holding_mailsink, process_logs):
    # given invoices queued and a worker sending them
    order_ids = enqueue_invoices(INVOICES)
    worker = start_crash_worker(process_logs, holding_mailsink, "crash-child")

    # when one pool child is killed while its mail is in flight, again and again
    try:
        for _ in range(POOL_CHILD_KILLS):
            wait_until(holding_mailsink.holding, 60, "no task reached the mail server", worker)
            children = psutil.Process(worker.pid).children()
            children[0].send_signal(signal.SIGKILL)
            wait_until(lambda: len(psutil.Process(worker.pid).children()) == 2, 60, "pool not refilled", worker)

        # then the requeued tasks ran (reject_on_worker_lost) and nothing was sent twice
        assert_each_invoice_emailed_once(order_ids, holding_mailsink, worker)
        assert "WorkerLostError" in worker.output()
    finally:
        worker.stop()


