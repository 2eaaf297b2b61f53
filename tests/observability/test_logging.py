"""Logs: every line logged inside a task names the task, in JSON in production, and the id a click logs
when it enqueues is the id on the worker's lines."""

import json
import logging
import re

import pytest

from tests.factories import OrderFactory
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def lines_of(worker, task_id: str) -> list[dict]:
    lines = (json.loads(line) for line in worker.output().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("task_id") == task_id]


def test_worker_logs_are_json_carrying_task_id_and_name(observed_worker, send_to_observed):
    order = OrderFactory()

    task_id = send_to_observed("orders.send_invoice_email", order.pk, queue="email")

    def when_finished():
        lines = lines_of(observed_worker, task_id)
        return lines if any("succeeded" in line["message"] for line in lines) else None

    lines = wait_until(when_finished, 60, "the task never logged its success with its id", observed_worker)
    sent = next(line for line in lines if line["message"].startswith("invoice "))
    assert sent["task_name"] == "orders.send_invoice_email"
    assert sent["message"].endswith(f"sent to {order.customer.email}")
    assert {"asctime", "levelname", "name"} <= sent.keys()
    received = next(line for line in lines if line["message"].endswith("received"))
    assert received["task_name"] == "orders.send_invoice_email"


def test_the_id_a_click_logs_is_the_id_on_the_worker_s_lines(client, live_worker, mailsink, caplog):
    order = OrderFactory()
    client.force_login(order.customer.user)
    caplog.set_level(logging.INFO, logger="core.tasking.outbox")

    client.post(f"/orders/{order.pk}/send-invoice/")

    enqueued_line = re.compile(r"enqueued orders\.send_invoice_email as task (\S+)")
    enqueued = (enqueued_line.fullmatch(record.getMessage()) for record in caplog.records)
    task_id = next(match for match in enqueued if match).group(1)
    wait_until(
        lambda: f"[orders.send_invoice_email {task_id}] invoice " in live_worker.output(),
        60,
        "no worker line carries the enqueued task id",
        live_worker,
    )
