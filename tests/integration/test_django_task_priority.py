"""django.tasks priorities on a real worker: on Redis the more urgent tasks waiting in a queue run first. (On
RabbitMQ, whose queues the project declares without priorities, a priority is refused when enqueued:
tests/core/test_django_tasks.py.)"""

import pytest
from django.conf import settings

from tests.support import django_tasks
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

on_redis = settings.CELERY_BROKER_URL.startswith("redis")


@pytest.mark.skipif(not on_redis, reason="Redis broker: RabbitMQ refuses priorities (tests/core/test_django_tasks.py)")
def test_queued_tasks_run_most_urgent_first_once_a_worker_starts(redis_of_this_test, process_logs):
    # given low-priority tasks enqueued before more urgent ones, on a broker no worker consumes yet
    enqueued = [
        django_tasks.add.using(priority=priority).enqueue(n, 0)
        for priority, n in ((-100, 1), (-100, 2), (-50, 3), (-50, 4), (0, 5), (0, 6))
    ]

    # when one worker starts that takes one message at a time (concurrency 1; the settings' prefetch multiplier 1)
    worker = start_worker(
        process_logs,
        name="priority-worker",
        queues="default",
        concurrency=1,
        REDIS_URL=redis_of_this_test,
        CELERY_BROKER_URL=redis_of_this_test,
    )
    try:

        def all_finished():
            for result in enqueued:
                result.refresh()
            return all(result.is_finished for result in enqueued)

        wait_until(all_finished, 60, "the tasks never finished", worker)
    finally:
        worker.stop()

    # then the default priority ran first, then -50, then -100, each in the order enqueued
    ran = sorted(enqueued, key=lambda result: result.started_at)
    assert [result.return_value for result in ran] == [5, 6, 3, 4, 1, 2]
