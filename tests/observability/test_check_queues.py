"""`manage.py check_queues` as cron or a probe runs it: one line per queue, exit code 1 when one is over."""

import subprocess
import sys

from kombu import Connection, Queue

from tests.support.processes import ROOT, process_env


def check_queues(broker_url: str, **thresholds: str) -> subprocess.CompletedProcess:
    env = process_env(CELERY_BROKER_URL=broker_url, **thresholds)
    return subprocess.run(
        [sys.executable, "manage.py", "check_queues"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_a_queue_over_its_threshold_is_reported_with_exit_code_1(private_broker_url, send_to_observed):
    with Connection(private_broker_url) as connection:
        Queue("bulk").bind(connection.default_channel).purge()
    # one in the queue's own list and two in priority lists of their own (a low-priority django.tasks task)
    for priority in (None, 3, 9):
        send_to_observed("orders.send_invoice_email", 1, queue="bulk", priority=priority)

    over = check_queues(private_broker_url, QUEUE_DEPTH_THRESHOLD_BULK="2")
    under = check_queues(private_broker_url, QUEUE_DEPTH_THRESHOLD_BULK="3")

    assert over.returncode == 1
    assert "bulk: 3 waiting, threshold 2 OVER" in over.stdout.splitlines()
    assert "default: 0 waiting, threshold 100 ok" in over.stdout.splitlines()
    assert "bulk" in over.stderr
    assert under.returncode == 0, under.stdout + under.stderr
    assert "bulk: 3 waiting, threshold 3 ok" in under.stdout.splitlines()
