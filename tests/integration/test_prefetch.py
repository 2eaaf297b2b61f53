"""How many messages a worker takes from its queue per pool process: two on the default queue (one running, one
waiting behind it), one on email and bulk, the smallest for a worker on several, and what its command line says
above all (core.tasking.policy.QUEUE_PREFETCH_MULTIPLIER)."""

import time

import pytest

from core.redis import redis_client
from myproject.celery import app
from tests.reliability import probe_runs
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SENT = 4
RUNNING_SECONDS = 4


def waiting_in(queue: str) -> int:
    """Messages no worker has taken: Redis's list length, RabbitMQ's ready count."""
    with app.connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count


@pytest.mark.parametrize(
    ("queues", "extra", "taken"),
    [
        ("default", (), 2),
        ("email", (), 1),
        ("bulk", (), 1),
        ("default,email", (), 1),
        ("default", ("--prefetch-multiplier", "1"), 1),
    ],
)
def test_a_worker_takes_from_its_queue_what_its_queues_allow(queues, extra, taken, process_logs, no_shared_worker):
    # given slow tasks waiting in the first queue of a worker with one pool process
    probe_runs.reset()
    queue = queues.split(",")[0]
    client = redis_client()
    for number in range(SENT):
        app.send_task("tests.record_run_slowly", args=[f"{queue}-{number}", RUNNING_SECONDS], queue=queue)

    # when the worker starts and its first task runs
    worker = start_worker(
        process_logs,
        name=f"prefetch-{queues.replace(',', '-')}-{len(extra)}",
        queues=queues,
        concurrency=1,
        extra=("-I", "tests.reliability.probe_tasks", *extra),
    )
    try:
        wait_until(lambda: client.llen(probe_runs.STARTED_KEY) == 1, 30, "the first task never started", worker)
        time.sleep(0.5)  # a worker that takes one too many has taken it by now

        # then the queue holds what the worker did not take, which is what a person (and KEDA) sees as waiting
        assert waiting_in(queue) == SENT - taken
        assert client.llen(probe_runs.STARTED_KEY) == 1, "one pool process runs one task at a time"
    finally:
        worker.stop()
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
