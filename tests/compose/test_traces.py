"""The monitoring profile's trace viewer on the stack: with web, the relay and worker-email exporting to it
(OTEL_EXPORTER_OTLP_ENDPOINT=http://traces:16686, as docs/operating.md says), the trace id staff read on an order
page after Send invoice opens one trace in the viewer, from the web request through the task on the worker to
its SMTP send."""

import json
import re

import pytest

from tests.compose.conftest import http_get, orders_without_invoice, wait_for
from tests.support.traces import ancestors, one

TRACED_SERVICES = ("web", "relay", "worker-email")
VIEWER_ENDPOINT = "http://traces:16686"


def viewer_answers(stack) -> bool:
    try:
        return http_get(stack.url("traces", "healthz"))[0] == 200
    except OSError:  # not listening yet
        return False


@pytest.fixture
def traced_stack(healthy_stack):
    """The trace viewer up, and web, the relay and worker-email recreated exporting to it; afterwards the viewer
    removed and those three recreated as the env file has them (tracing off), healthy for the tests after."""
    healthy_stack.compose("--profile", "monitoring", "up", "-d", "--no-build", "traces")
    try:
        healthy_stack.compose(
            "up", "-d", "--no-deps", "--no-build", *TRACED_SERVICES,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": VIEWER_ENDPOINT},
        )  # fmt: skip
        wait_for(lambda: viewer_answers(healthy_stack), 60, "the trace viewer never answered on its published port")
        healthy_stack.wait_healthy()
        yield healthy_stack
    finally:
        healthy_stack.compose("--profile", "monitoring", "rm", "--stop", "--force", "traces")
        healthy_stack.compose("up", "-d", "--no-deps", "--no-build", *TRACED_SERVICES)
        healthy_stack.wait_healthy()


def whole_trace(stack, trace_id: str) -> list[dict] | None:
    """The trace's spans as the viewer's JSON gives them, once the click, the run and the send have arrived: each
    process exports its spans in batches of its own (every 5 s), so the worker's may come before web's, and the
    run span, which ends after the send, may come a batch later."""
    status, body = http_get(stack.url("traces", f"traces/{trace_id}.json"))
    if status != 200:  # 404 until a first span of it arrives
        return None
    spans = json.loads(body)["spans"]
    ends = {(span["role"], span["name"].split(" ", 1)[0]) for span in spans}
    return spans if {("web", "POST"), ("worker", "run/orders.send_invoice_email"), ("worker", "smtp")} <= ends else None


def test_staff_find_a_send_invoice_click_in_the_viewer_as_one_trace_down_to_the_smtp_send(traced_stack, staff, mailpit):
    # given an order no test has invoiced
    [order] = orders_without_invoice(traced_stack, 1)

    # when staff click Send invoice, and read the trace id the order page shows them by the invoice job
    landing, page = staff.post_form(f"orders/{order}/send-invoice/", f"orders/{order}/")
    assert landing == f"/orders/{order}/"
    number = re.search(r"Invoice (\S+) queued\.", page).group(1)
    trace_id = re.search(r'id="job-invoice".*?trace <code>([0-9a-f]{32})</code>', page, re.S).group(1)
    mailpit.wait_for_subject(f"Your invoice {number}")

    # then the viewer holds one trace: the click's request on web, the task on the worker under it, its SMTP send
    spans = wait_for(
        lambda: whole_trace(traced_stack, trace_id), 60, f"trace {trace_id} never held the click and the SMTP send"
    )
    request = one(spans, "web", "POST")
    run = one(spans, "worker", "run/orders.send_invoice_email")
    smtp = one(spans, "worker", "smtp send")
    assert request["parent_id"] == ""  # the trace starts at the click
    assert request in ancestors(run, spans)
    assert run in ancestors(smtp, spans)
    # and the page a person opens from the id shows them
    status, body = http_get(traced_stack.url("traces", f"traces/{trace_id}"))
    assert status == 200
    assert "run/orders.send_invoice_email" in body.decode() and "smtp send" in body.decode()
