"""A real worker reports the queues it consumes, and /healthz/system names the ones nobody consumes."""

import socket

import pytest

from core.operations.health import system_report
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_on_one_queue_leaves_the_others_named_without_a_consumer(process_logs, redis_of_this_test):
    # given one worker consuming only the email queue, alone on a Redis of this test (the suite's other
    # workers write their heartbeats elsewhere)
    worker = start_worker(
        process_logs,
        queues="email",
        name="health-email",
        REDIS_URL=redis_of_this_test,
        CELERY_BROKER_URL=redis_of_this_test,
    )
    try:
        name = f"health-email@{socket.gethostname()}"
        wait_until(lambda: list(system_report()[1]["workers"]) == [name], 30, "the worker never reported", worker)

        # when the system report is read
        healthy, report = system_report()
    finally:
        worker.stop()

    # then the worker shows with its queue, and the two queues it leaves alone are named
    assert report["workers"][name] == ["email"]
    assert not healthy and report["queues_without_consumer"] == ["default", "bulk"]
