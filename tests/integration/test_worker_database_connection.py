"""A pool process keeps its PostgreSQL connection from task to task, as a web process keeps it from request to
request (CONN_MAX_AGE): Celery would open one per task. A connection the server dropped meanwhile costs the next
task nothing: the health check before its first query replaces it."""

import pytest
from django.db import connection

from core.models import Job
from tests.support import django_tasks
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid_of_a_task(worker) -> int:
    result = django_tasks.database_backend_pid.enqueue()
    wait_until(lambda: result.refresh() or result.is_finished, 60, "the task never finished", worker)
    assert result.status == "SUCCESSFUL", result.errors
    assert Job.objects.get(pk=result.id).started_at is not None  # its running mark too was written
    return result.return_value


def test_a_pool_process_keeps_its_database_connection_and_replaces_one_the_server_dropped(
    redis_of_this_test, process_logs
):
    # given a worker with one pool process
    worker = start_worker(
        process_logs,
        name="connection-worker",
        queues="default",
        concurrency=1,
        REDIS_URL=redis_of_this_test,
        CELERY_BROKER_URL=redis_of_this_test,
    )
    try:
        # when it runs tasks one after another, they share one server process
        first, second, third = (backend_pid_of_a_task(worker) for _ in range(3))
        assert first == second == third

        # and when the server drops that connection between two tasks
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [third])

        # then the next task runs on a new one, without an error or a retry
        replaced = backend_pid_of_a_task(worker)
        assert replaced != third
        assert backend_pid_of_a_task(worker) == replaced
    finally:
        worker.stop()
