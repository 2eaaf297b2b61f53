"""The Celery command line an operator uses: `inspect registered` lists every task, `call` runs one."""

import json
import socket
import subprocess

import pytest
from django.utils.module_loading import autodiscover_modules

from myproject.celery import app
from orders.models import Invoice
from tests.factories import OrderFactory
from tests.support.processes import ROOT, celery_command, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run_celery(*args: str, worker=None) -> str:
    result = subprocess.run(
        celery_command(*args), cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=120
    )
    worker_log = f"\nthe worker's log:\n{worker.output()[-4000:]}" if worker is not None else ""
    assert result.returncode == 0, result.stdout + result.stderr + worker_log
    return result.stdout


def test_inspect_registered_lists_every_project_task(live_worker):
    autodiscover_modules("tasks")
    project_tasks = {name for name in app.tasks if not name.startswith("celery.")}

    # Named, the worker is the one reply awaited: without it, inspect waits out its whole timeout for others.
    hostname = f"{live_worker.name}@{socket.gethostname()}"
    output = run_celery(
        "inspect", "registered", "--json", "--timeout", "30", "--destination", hostname, worker=live_worker
    )

    registered = {task.split()[0] for tasks in json.loads(output).values() for task in tasks}
    assert project_tasks <= registered
    assert {
        "orders.send_invoice_email",
        "orders.charge_order",
        "notifications.send_daily_digest",
        "accounts.import_contacts",
    } <= registered


def test_celery_call_runs_a_task_by_name(live_worker, mailsink):
    order = OrderFactory()

    run_celery("call", "orders.send_invoice_email", "--args", json.dumps([order.pk]), "--queue", "email")

    wait_until(lambda: mailsink.to(order.customer.email), 60, "invoice from `celery call` never arrived", live_worker)
    # the send is recorded when the worker's transaction commits, just after the SMTP server took the mail
    wait_until(lambda: Invoice.objects.filter(order=order, sent_at__isnull=False).exists(), 30, "send never recorded")
