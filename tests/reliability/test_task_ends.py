"""A pool process records its succeeded tasks' ends and acknowledges their messages in batches
(core.tasking.finished_marks): killed before a batch went out, its tasks run again rather than stay unrecorded;
recycled or stopped, it sends its batch first, so nothing runs twice."""

import psutil
import pytest
import redis

from core.models import Job
from myproject.celery import app
from tests.reliability import probe_runs
from tests.reliability.conftest import redis_broker_only
from tests.support.processes import start_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), redis_broker_only]

# Longer than each test takes to finish what it checks: a batch goes out only when the test means it to.
HELD_BATCH_SECONDS = "60"
# Short, so a message left unacknowledged comes back within the test (kombu's sweep runs every 10 s).
VISIBILITY_TIMEOUT = "10"


@pytest.fixture
def probe_worker(private_redis, app_broker, process_logs):
    app_broker(private_redis.url)
    probe_runs.reset()
    workers = []

    def start(name: str, *extra: str, **env: str):
        worker = start_worker(
            process_logs,
            name=name,
            queues="default",
            concurrency=1,
            extra=("-I", "tests.reliability.probe_tasks", *extra),
            CELERY_BROKER_URL=private_redis.url,
            CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="1",
            **env,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def sent(*labels: str) -> list[str]:
    return [app.send_task("tests.record_run", args=[label], queue="default").id for label in labels]


def states(task_ids: list[str]) -> list[str]:
    return [Job.objects.get(pk=task_id).state for task_id in task_ids]


def unacknowledged(private_redis) -> int:
    return redis.Redis(port=private_redis.port).hlen("unacked")


def test_a_pool_process_killed_before_its_batch_went_out_leaves_its_task_to_run_again(private_redis, probe_worker):
    # given a task that succeeded, its end held in its pool process's batch
    worker = probe_worker("ends-killed", TASK_END_BATCH_INTERVAL="5", CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT)
    [task_id] = sent("killed")
    wait_until(lambda: " succeeded in " in worker.output(), 30, "the task never succeeded", worker)

    # when that pool process is killed before the batch went out
    [pool_process] = psutil.Process(worker.pid).children()
    pool_process.kill()

    # then the message was never acknowledged: it is redelivered, the task runs again, and this time its end is
    # recorded and its message acknowledged
    assert states([task_id]) == ["queued"]
    wait_until(lambda: probe_runs.runs() == ["killed", "killed"], 60, "the task never ran again", worker)
    wait_until(lambda: states([task_id]) == ["succeeded"], 30, "its end was never recorded", worker)
    wait_until(lambda: unacknowledged(private_redis) == 0, 30, "its message was never acknowledged", worker)


def test_a_recycled_pool_process_sends_its_batch_before_it_exits(private_redis, probe_worker):
    # given a worker whose pool process is replaced after every task, and batches held longer than the test
    worker = probe_worker("ends-recycled", "--max-tasks-per-child", "1", TASK_END_BATCH_INTERVAL=HELD_BATCH_SECONDS)

    # when it runs three tasks
    task_ids = sent("first", "second", "third")

    # then each pool process recorded its task's end and acknowledged it on its way out, and each task ran once
    wait_until(lambda: states(task_ids) == ["succeeded"] * 3, 30, "the ends were never recorded", worker)
    wait_until(lambda: unacknowledged(private_redis) == 0, 10, "messages left unacknowledged", worker)
    assert probe_runs.runs() == ["first", "second", "third"]


def test_a_stopping_worker_sends_its_batches_before_it_exits(private_redis, probe_worker):
    # given a worker holding the ends of the tasks it ran, in batches held longer than the test
    worker = probe_worker("ends-stopped", TASK_END_BATCH_INTERVAL=HELD_BATCH_SECONDS)
    task_ids = sent("first", "second", "third")
    wait_until(lambda: len(probe_runs.runs()) == 3, 30, "the tasks never ran", worker)
    assert states(task_ids) == ["queued"] * 3, "held in the batch"

    # when it stops (warm shutdown)
    worker.stop()

    # then every end is recorded and nothing is left to run again
    assert states(task_ids) == ["succeeded"] * 3
    assert unacknowledged(private_redis) == 0
    assert probe_runs.runs() == ["first", "second", "third"]
