"""OpenTelemetry: a Send invoice click made while the broker is down is one trace, from the request through the
outbox write, the relay's later publish and the worker's run to its queries and the SMTP send, exported over
OTLP/HTTP to the project's trace viewer on loopback; staff see its trace id on the order page."""

import sys

import pytest
import sentry_sdk

from core.models import Job, OutboxMessage
from core.tasking import outbox
from orders import tasks as order_tasks
from orders.models import Invoice
from tests.factories import OrderFactory, StaffFactory
from tests.reliability.conftest import PrivateRedis
from tests.reliability.test_redis_down import Browser
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, start_worker, wait_until
from tests.support.traces import ancestors, one

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_click_relayed_after_a_broker_outage_is_one_trace_down_to_the_smtp_send(trace_viewer, mailsink, process_logs):
    # given web, relay and worker tracing to a collector, and the broker down when staff click Send invoice
    broker = PrivateRedis(port=free_port())
    tracing = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": trace_viewer.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within 0.2 s instead of 5 s
        "CELERY_BROKER_URL": broker.url,
        "DJANGO_MEDIA_ROOT": str(process_logs / "media"),
    }
    port = free_port()
    web = ManagedProcess(
        "traced-web",
        [sys.executable, "-m", "gunicorn", "myproject.wsgi", "-c", "gunicorn.conf.py"],
        process_env(WEB_BIND_ADDRESS="127.0.0.1", WEB_PORT=str(port), WEB_CONCURRENCY="1", **tracing),
        process_logs,
    )
    processes = [web]
    order = OrderFactory()
    staff = StaffFactory()
    try:
        web.wait_for_output("Booting worker", timeout=60)
        browser = Browser(f"http://127.0.0.1:{port}")
        browser.log_in(staff.username)
        broker.kill()

        # when staff click, and the broker, a relay and a worker come up later
        status, body, _ = browser.click_send_invoice(order.pk)
        assert status == 200 and "queued" in body
        message = OutboxMessage.objects.get()
        assert message.published_at is None and message.trace_context["traceparent"]
        broker.start()
        processes.append(start_worker(process_logs, name="traced-worker", **tracing))
        processes.append(
            ManagedProcess(
                "traced-relay",
                [sys.executable, "manage.py", "relay_outbox", "--interval", "0.2"],
                process_env(**tracing),
                process_logs,
            )
        )
        wait_until(lambda: mailsink.to(order.customer.email), 60, "invoice never emailed", processes[1])
        trace_id = Job.objects.get(pk=message.pk).trace_id
        # each process exports on its own schedule, and the run span ends (and is exported) after the SMTP span
        expected = ("outbox enqueue", "apply_async/", "run/", "smtp send")
        wait_until(
            lambda: all(
                any(span["name"].startswith(name) for span in trace_viewer.span_file.trace(trace_id))
                for name in expected
            ),
            30,
            "the relay's or the worker's spans never arrived",
            processes[1],
        )

        # then one trace: request → outbox write → the relay's publish → the worker's run → its queries and SMTP
        spans = trace_viewer.span_file.trace(trace_id)
        request = one(spans, "web", "POST")
        enqueue = one(spans, "web", "outbox enqueue orders.send_invoice_email")
        publish = one(spans, "relay", "apply_async/orders.send_invoice_email")
        run = one(spans, "worker", "run/orders.send_invoice_email")
        smtp = one(spans, "worker", "smtp send")
        assert request["parent_id"] == ""  # the trace starts at the click
        assert request in ancestors(enqueue, spans)
        assert publish["parent_id"] == enqueue["span_id"]
        assert run["parent_id"] == publish["span_id"]
        assert run in ancestors(smtp, spans)
        queries = [span for span in spans if span["role"] == "worker" and run in ancestors(span, spans)]
        assert any(span["name"].startswith(("SELECT", "UPDATE", "INSERT")) for span in queries), queries
        assert Invoice.objects.get(order=order).sent_at is not None

        # and the order page shows staff the trace id
        _, page, _ = browser.request(f"/orders/{order.pk}/")
        assert trace_id in page
    finally:
        for process in reversed(processes):
            process.stop()
        broker.kill()


def test_sentrys_trace_rides_the_outbox_row_to_the_publish(sentry_sink):
    # given Sentry on (its own client only: the test process's Django and Celery stay unpatched)
    sentry_sdk.init(dsn=sentry_sink.dsn, traces_sample_rate=1.0, default_integrations=False)
    try:
        # when a click's transaction enqueues a task
        with sentry_sdk.start_transaction(name="click") as click:
            task_id = outbox.enqueue(order_tasks.send_invoice_email, OrderFactory().pk)

        # then the outbox row carries Sentry's trace header, and the publish (now or the relay's, later) runs
        # inside that trace
        headers = OutboxMessage.objects.get(pk=task_id).trace_context
        assert headers["sentry-trace"].startswith(click.trace_id)
        with outbox._trace_restored(headers):
            assert sentry_sdk.get_traceparent().startswith(click.trace_id)
    finally:
        sentry_sdk.init()  # no DSN: off again
