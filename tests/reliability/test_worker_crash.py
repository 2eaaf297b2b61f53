"""A worker killed with SIGKILL in the middle of sending invoices and charging orders, the whole worker and
only a pool child: every task completes, every invoice is emailed once and every order charged once."""

import os
import signal

import psutil
import pytest
from django.db import transaction

from core.tasking import outbox
from finance.models import Charge
from orders import pipeline, tasks
from orders import services as order_services
from orders.models import Invoice, Order, OrderExport
from tests.factories import OrderFactory
from tests.finance.gateways import debits_of
from tests.support.processes import ManagedProcess, start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_shared_worker")]

ORDERS = 20
# 20 kills in all: whole-worker kills cost a restart and a visibility timeout each, so fewer of them.
WHOLE_WORKER_KILLS = 5
POOL_CHILD_KILLS = 15
# Redis hands an unacknowledged message back after the visibility timeout: short here so a killed
# worker's task returns within the test. Every task here finishes far below it.
SHORT_VISIBILITY_TIMEOUT = "10"


def enqueue_invoices_and_charges(count: int) -> list[int]:
    orders = [OrderFactory() for _ in range(count)]
    with transaction.atomic():
        for order in orders:
            pipeline.order_charge_request(order=order)
            outbox.enqueue(tasks.charge_order, order.pk)
            outbox.enqueue(tasks.send_invoice_email, order.pk)
    return [order.pk for order in orders]


def start_crash_worker(process_logs, sink, name: str):
    return start_worker(
        process_logs,
        name=name,
        queues="email,default",
        concurrency=2,
        EMAIL_PORT=str(sink.port),
        PAYMENT_GATEWAY_LATENCY_MS="300",  # a window for kills to land mid-charge too
        CELERY_VISIBILITY_TIMEOUT=SHORT_VISIBILITY_TIMEOUT,
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )


def assert_each_order_charged_once(order_ids, worker):
    wait_until(
        lambda: Charge.objects.filter(order_id__in=order_ids, status=Charge.Status.SUCCEEDED).count() == len(order_ids),
        120,
        "not every order was charged",
        worker,
    )
    assert Charge.objects.filter(order_id__in=order_ids).count() == len(order_ids)
    for order in Order.objects.filter(pk__in=order_ids):
        assert len(debits_of(order)) == 1, f"order {order.pk} debited twice"


def assert_each_invoice_emailed_once(order_ids, sink, worker):
    wait_until(
        lambda: Invoice.objects.filter(order_id__in=order_ids, sent_at__isnull=False).count() == len(order_ids),
        120,
        "not every invoice was sent",
        worker,
    )
    numbers = set(Invoice.objects.filter(order_id__in=order_ids).values_list("number", flat=True))
    sent = sink.count_by_message_id()
    assert {message_id.strip("<>").split("@")[0] for message_id in sent} == numbers
    assert set(sent.values()) == {1}, f"duplicated emails: {sent}"


def kill_whole_worker_while_mail_held(worker, sink, process_logs, kills: int, name: str) -> ManagedProcess:
    """SIGKILLs the worker's process group while the mail server holds one of its mails, `kills` times, each time
    starting a new worker (`name`-1, -2…); the last one started."""
    for kill in range(1, kills + 1):
        wait_until(sink.holding, 60, "no mail reached the mail server", worker)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.stop()
        worker = start_crash_worker(process_logs, sink, f"{name}-{kill}")
    return worker


def test_killing_the_whole_worker_mid_task_loses_and_doubles_nothing(holding_mailsink, process_logs):
    # given invoices queued and a worker sending them
    order_ids = enqueue_invoices_and_charges(ORDERS)
    worker = start_crash_worker(process_logs, holding_mailsink, "crash-whole-0")

    # when the worker and its pool are killed while a mail is in flight, again and again
    worker = kill_whole_worker_while_mail_held(
        worker, holding_mailsink, process_logs, WHOLE_WORKER_KILLS, "crash-whole"
    )

    # then every task completed (redelivered after the visibility timeout on Redis, at once on AMQP)
    try:
        assert_each_invoice_emailed_once(order_ids, holding_mailsink, worker)
        assert_each_order_charged_once(order_ids, worker)
    finally:
        worker.stop()


def test_killing_a_pool_child_mid_task_loses_and_doubles_nothing(holding_mailsink, process_logs):
    # given invoices queued and a worker sending them
    order_ids = enqueue_invoices_and_charges(ORDERS)
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
        assert_each_order_charged_once(order_ids, worker)
        assert "WorkerLostError" in worker.output()
    finally:
        worker.stop()


EXPORTS = 6
EXPORT_KILLS = 2


def test_killing_the_whole_worker_mid_export_emails_each_export_once(holding_mailsink, process_logs):
    # given "Export my orders" clicked by six customers (a django.tasks task), and a worker sending the CSVs
    users = [OrderFactory().customer.user for _ in range(EXPORTS)]
    with transaction.atomic():
        exports = [order_services.order_export_request(user=user) for user in users]
        for export in exports:
            order_services.order_export_record_task(
                export=export, task_id=tasks.export_orders_csv.enqueue(export.pk).id
            )
    worker = start_crash_worker(process_logs, holding_mailsink, "export-crash-0")

    # when the worker and its pool are killed while a CSV mail is in flight, twice
    worker = kill_whole_worker_while_mail_held(worker, holding_mailsink, process_logs, EXPORT_KILLS, "export-crash")

    # then every export was emailed exactly once and its result reads successful
    try:
        wait_until(
            lambda: OrderExport.objects.filter(emailed_at__isnull=False).count() == EXPORTS,
            120,
            "not every export was sent",
            worker,
        )
        sent = holding_mailsink.count_by_message_id()
        assert {message_id.strip("<>").split("@")[0] for message_id in sent} == {f"export-{e.pk}" for e in exports}
        assert set(sent.values()) == {1}, f"duplicated emails: {sent}"
        wait_until(
            lambda: all(tasks.export_orders_csv.get_result(e.task_id).status == "SUCCESSFUL" for e in exports),
            30,
            "a result never read successful",
            worker,
        )
    finally:
        worker.stop()
