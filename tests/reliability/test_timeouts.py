"""Time limits and the visibility timeout: a hung task is killed and dead-lettered while the worker keeps
serving, a graceful stop loses no running or held task, and nothing runs twice past the visibility timeout."""

import signal
import subprocess
import sys

import psutil
import pytest

from core.models import DeadLetter
from core.redis import redis_client
from myproject.celery import app
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.reliability.conftest import redis_broker_only
from tests.support.processes import ROOT, process_env, start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

INVOICE_TASK = "orders.send_invoice_email"


def send_invoice(order, **options) -> str:
    return app.send_task(INVOICE_TASK, args=[order.pk], queue="email", **options).id


def sink_worker(process_logs, sink, name, **env):
    return start_worker(
        process_logs,
        name=name,
        queues="email",
        EMAIL_PORT=str(sink.port),
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
        **env,
    )


def test_the_system_check_refuses_limits_that_reach_the_visibility_timeout():
    # when the visibility timeout is set below the invoice task's 60 s hard limit
    check = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=process_env(CELERY_VISIBILITY_TIMEOUT="60"),
    )

    # then the project refuses to start
    assert check.returncode != 0
    assert f"core.E001) {INVOICE_TASK}: hard time limit 60s is not below CELERY_VISIBILITY_TIMEOUT 60s" in check.stderr


def test_a_hung_task_is_killed_dead_lettered_and_the_worker_keeps_serving(holding_mailsink, process_logs):
    # given a worker whose mail server hangs
    holding_mailsink.hold_seconds = 60
    worker = sink_worker(process_logs, holding_mailsink, "hung")
    try:
        hung = OrderFactory()

        # when the task hangs where even the soft limit cannot reach it (its process stopped, as in a stuck C
        # call) past its hard limit, tightened for this message: the sender's limits win
        hung_id = send_invoice(hung, soft_time_limit=2, time_limit=4)
        wait_until(holding_mailsink.holding, 60, "task never reached the mail server", worker)
        child_talking_to(worker, holding_mailsink.port).send_signal(signal.SIGSTOP)

        # then the pool child is killed, the dead letter records it, and nothing was marked sent
        letter = wait_until(lambda: DeadLetter.objects.filter(task_id=hung_id).first(), 60, "no dead letter", worker)
        assert "TimeLimitExceeded" in letter.exception
        assert Invoice.objects.filter(order=hung, sent_at__isnull=False).count() == 0

        # and when the soft limit interrupts a mail server that answers late (the SMTP cleanup still needs
        # its QUIT answered), the task's own exception path closes the connection and rolls back
        holding_mailsink.hold_seconds = 5
        soft = OrderFactory()
        soft_id = send_invoice(soft, soft_time_limit=2, time_limit=15)
        letter = wait_until(lambda: DeadLetter.objects.filter(task_id=soft_id).first(), 60, "no dead letter", worker)
        assert "SoftTimeLimitExceeded" in letter.exception
        assert not Invoice.objects.filter(order=soft, sent_at__isnull=False).exists()

        # then the same worker still serves the next task once the mail server answers again
        holding_mailsink.hold_seconds = 0.1
        healthy = OrderFactory()
        send_invoice(healthy)
        wait_until(lambda: holding_mailsink.to(healthy.customer.email), 60, "worker stopped serving", worker)
    finally:
        worker.stop()


def child_talking_to(worker, port: int) -> psutil.Process:
    for child in psutil.Process(worker.pid).children():
        if any(connection.raddr and connection.raddr.port == port for connection in child.net_connections()):
            return child
    raise AssertionError(f"no pool child is connected to port {port}")


def test_a_graceful_stop_loses_no_running_or_held_task(holding_mailsink, process_logs):
    # given a worker sending two invoices (each mail held 3 s) and holding two invoices with a countdown
    holding_mailsink.hold_seconds = 3
    worker = sink_worker(process_logs, holding_mailsink, "deploy-old", CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="10")
    running = [OrderFactory() for _ in range(2)]
    held = [OrderFactory() for _ in range(2)]
    held_ids = [send_invoice(order, countdown=15) for order in held]
    for order in running:
        send_invoice(order)
    wait_until(lambda: all(task_id in worker.output() for task_id in held_ids), 60, "countdowns not held", worker)
    wait_until(holding_mailsink.holding, 60, "no task running", worker)

    # when the deploy stops it with SIGTERM and starts a new one
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(timeout=60) == 0
    worker.stop()
    successor = sink_worker(process_logs, holding_mailsink, "deploy-new")

    # then the running invoices finished, and the held ones were handed back and run by the new worker at
    # their time, without waiting for the visibility timeout (an hour here)
    try:
        for order in running + held:
            wait_until(
                lambda order=order: holding_mailsink.to(order.customer.email), 60, "an invoice was lost", successor
            )
        # the mail arrives before the worker commits and logs the success: wait for the log line too
        wait_until(
            lambda: all(f"[{task_id}] succeeded" in successor.output() for task_id in held_ids),
            30,
            "a held invoice did not run on the new worker",
            successor,
        )
        assert all(len(holding_mailsink.to(order.customer.email)) == 1 for order in running + held)
    finally:
        successor.stop()


@redis_broker_only
def test_a_countdown_beyond_the_visibility_timeout_still_emails_once(holding_mailsink, process_logs):
    """What core.E001 prevents, run anyway: Redis may hand the held message out again once the visibility
    timeout passes (kombu scans for such messages on a throttled timer, so whether it does within the
    countdown varies), and the invoice service's row lock and sent flag absorb the extra copy."""
    holding_mailsink.hold_seconds = 0.1
    worker = sink_worker(process_logs, holding_mailsink, "short-visibility", CELERY_VISIBILITY_TIMEOUT="5")
    broker = redis_client()
    order = OrderFactory()
    try:
        # when a task's countdown is longer than the visibility timeout
        task_id = send_invoice(order, countdown=20)

        # then once every copy has run and none is queued or held any more
        wait_until(lambda: f"[{task_id}] succeeded" in worker.output(), 90, "never ran", worker)
        wait_until(
            lambda: broker.llen("email") == 0 and broker.zcard("unacked_index") == 0,
            60,
            "a copy is still queued or held",
            worker,
        )

        # the customer got one email
        assert len(holding_mailsink.to(order.customer.email)) == 1
        print(f"countdown beyond the visibility timeout ran {worker.output().count(f'[{task_id}] succeeded')} time(s)")
    finally:
        worker.stop()
