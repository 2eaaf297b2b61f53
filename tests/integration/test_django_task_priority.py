"""django.tasks priorities on a real worker: on Redis the more urgent tasks waiting in a queue run first; on
RabbitMQ, whose queues the project declares without priorities, a priority is refused when enqueued."""

import pytest
from django.conf import settings
from django.tasks.exceptions import InvalidTask

from tests.support import django_tasks
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

on_redis = settings.CELERY_BROKER_URL.startswith("redis")


@pytest.mark.skipif(not on_redis, reason="Redis broker: RabbitMQ refuses priorities (the next test)")
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


@pytest.mark.skipif(on_redis, reason="RabbitMQ broker: on Redis priorities work (the test above)")
def test_a_priority_is_refused_on_rabbitmq_and_the_default_still_runs(live_worker):
    with pytest.raises(InvalidTask, match="broker's queues ignore priorities"):
        django_tasks.add.using(priority=-50)

    result = django_tasks.add.using(priority=0).enqueue(20, 22)

    wait_until(lambda: result.refresh() or result.is_finished, 60, "the task never finished", live_worker)
    assert result.return_value == 42
