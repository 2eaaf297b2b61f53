"""django.tasks tasks through a real worker process: enqueued through the outbox, run by the queue profile's
runner with its retries, read back through Django's TaskResult."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone

from tests.support import django_tasks
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def finished(result, worker, timeout: float = 60):
    def done():
        result.refresh()
        return result.is_finished

    wait_until(done, timeout, f"{result.task.name} never finished", worker)
    return result


def test_a_task_enqueued_in_a_transaction_runs_on_the_worker_and_returns_its_value(live_worker):
    with transaction.atomic():
        result = django_tasks.shout.enqueue("hello")

    finished(result, live_worker)

    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, "HELLO")
    assert result.worker_ids and result.worker_ids[0].startswith("worker@")


def test_run_after_holds_the_task_until_its_time(live_worker):
    run_after = timezone.now() + timedelta(seconds=3)

    result = django_tasks.add.using(run_after=run_after).enqueue(20, 22)

    finished(result, live_worker)
    assert result.return_value == 42
    assert result.started_at >= run_after


def test_a_transient_error_is_retried_with_backoff_and_a_bad_input_fails_once(live_worker, tmp_path):
    flaky = django_tasks.fail_first_time.enqueue(str(tmp_path / "attempted"))
    broken = django_tasks.refuse.enqueue("x")

    finished(flaky, live_worker)
    finished(broken, live_worker)

    assert (flaky.status, flaky.return_value, flaky.attempts) == (TaskResultStatus.SUCCESSFUL, "recovered", 2)
    assert (broken.status, broken.attempts, broken.errors[0].exception_class) == (
        TaskResultStatus.FAILED,
        1,
        ValueError,
    )
