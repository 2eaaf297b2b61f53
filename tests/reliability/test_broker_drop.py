"""Redis killed while every worker holds a countdown task, a retrying task, a running task and prefetched
messages: no worker dies, and once Redis is back every task runs exactly once."""

import time

import pytest
import redis

from core.redis import redis_client
from myproject.celery import app
from tests.reliability import probe_runs
from tests.reliability.conftest import redis_broker_only
from tests.support.processes import start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), redis_broker_only]

QUEUES = ("default", "email", "bulk")
# Long enough to be still waiting in the worker when Redis dies, far below the visibility timeout (an hour):
# the held messages must come back because the worker requeues them, not because Redis times them out.
COUNTDOWN = 15
RUNNING_SECONDS = 8
PREFETCHED = 2
# appendfsync everysec writes the AOF once a second: wait for the unacked set to reach the disk.
EVERYSEC_FLUSH_WAIT = 1.5


def labels_for(queue: str) -> list[str]:
    return [f"{queue}-countdown", f"{queue}-retry", f"{queue}-running"] + [
        f"{queue}-prefetched-{n}" for n in range(PREFETCHED)
    ]


def hold_tasks_in(worker, queue: str) -> None:
    app.send_task("tests.record_run_after_one_retry", args=[f"{queue}-retry", COUNTDOWN], queue=queue)
    wait_until(lambda: "retry: Retry in" in worker.output(), 60, "the task never retried", worker)
    app.send_task("tests.record_run", args=[f"{queue}-countdown"], queue=queue, countdown=COUNTDOWN)
    app.send_task("tests.record_run_slowly", args=[f"{queue}-running", RUNNING_SECONDS], queue=queue)
    for label in labels_for(queue)[3:]:
        app.send_task("tests.record_run", args=[label], queue=queue)


def test_workers_holding_tasks_survive_a_redis_kill_and_run_every_task_once(private_redis, app_broker, process_logs):
    # given one worker per queue on a Redis the test may kill, each holding a task for every way of holding one
    probe_runs.reset()
    app_broker(private_redis.url)
    workers = {
        queue: start_worker(
            process_logs,
            name=f"drop-{queue}",
            queues=queue,
            concurrency=1,
            extra=("-I", "tests.reliability.probe_tasks"),
            CELERY_BROKER_URL=private_redis.url,
        )
        for queue in QUEUES
    }
    try:
        for queue, worker in workers.items():
            hold_tasks_in(worker, queue)
        wait_until(
            lambda: redis_client().llen(probe_runs.STARTED_KEY) == len(QUEUES), 60, "the slow tasks never started"
        )
        time.sleep(EVERYSEC_FLUSH_WAIT)

        # when Redis is killed without warning and started again from its files
        private_redis.kill()
        for worker in workers.values():
            worker.wait_for_output("Connection to broker lost")
        private_redis.start()

        # then every task runs, each exactly once, and nothing is left unacknowledged to run again
        expected = sorted(label for queue in QUEUES for label in labels_for(queue))
        wait_until(lambda: len(probe_runs.runs()) >= len(expected), 90, "not every task ran")
        broker = redis.Redis(port=private_redis.port)
        wait_until(lambda: broker.hlen("unacked") == 0, 30, "messages left unacknowledged")
        assert probe_runs.runs() == expected

        # and every worker is still alive, never having crashed
        for queue, worker in workers.items():
            assert worker.alive(), f"the {queue} worker died:\n{worker.output()[-3000:]}"
            assert "Unrecoverable error" not in worker.output()
    finally:
        for worker in workers.values():
            worker.stop()
