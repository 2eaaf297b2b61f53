"""The django.tasks backend (core.tasking.django_tasks): enqueue writes the outbox row in the caller's
transaction, unsupported features raise Django's errors, results come from the job rows."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_finished, task_started
from django.utils import timezone

from core.models import DeadLetter, Job, OutboxMessage
from core.operations.health import queue_depths
from core.redis import redis_client
from core.tasking import outbox
from core.tasking.django_tasks import RUNNERS, broker_priority
from myproject.celery import app
from tests.support import django_tasks

pytestmark = pytest.mark.django_db


def run_on_worker(result) -> None:
    """What a worker does with the message: the queue's runner, under the outbox row's id."""
    message = OutboxMessage.objects.get(pk=result.id)
    RUNNERS[result.task.queue_name].apply(args=message.args, kwargs=message.kwargs, task_id=result.id)


def test_enqueue_writes_the_outbox_row_in_the_callers_transaction_and_publishes_after_commit(
    django_capture_on_commit_callbacks,
):
    # when a django task is enqueued inside a transaction
    with django_capture_on_commit_callbacks() as publishes, transaction.atomic():
        result = django_tasks.shout.enqueue("hello")
        message = OutboxMessage.objects.get(pk=result.id)
        assert publishes == []  # nothing leaves before commit

    # then its row names the email queue's runner with the task's path and arguments, published after commit
    assert (message.task_name, message.queue) == ("core.run_django_task_email", "email")
    assert message.args == ["tests.support.django_tasks.shout", ["hello"], {}]
    assert len(publishes) == 1
    # and its result reads the job row: ready, with the task's own arguments
    fetched = django_tasks.shout.get_result(result.id)
    assert (fetched.status, fetched.args, fetched.kwargs) == (TaskResultStatus.READY, ["hello"], {})


def test_a_rolled_back_transaction_leaves_no_message_and_no_job():
    with pytest.raises(RuntimeError), transaction.atomic():
        django_tasks.add.enqueue(1, 2)
        raise RuntimeError("the change failed")

    assert not OutboxMessage.objects.exists() and not Job.objects.exists()


def test_a_run_reports_success_and_its_return_value(eager):
    result = django_tasks.add.enqueue(2, 3)

    run_on_worker(result)

    result.refresh()
    assert (result.status, result.return_value, result.attempts) == (TaskResultStatus.SUCCESSFUL, 5, 1)
    assert result.started_at and result.finished_at


def test_a_failing_task_is_failed_with_its_exception_and_leaves_a_dead_letter(eager):
    result = django_tasks.refuse.enqueue("x")

    run_on_worker(result)

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ValueError
    assert "cannot use 'x'" in result.errors[0].traceback
    assert DeadLetter.objects.get(task_id=result.id).task_name == "core.run_django_task_default"


def test_run_after_sets_the_messages_eta_within_the_visibility_timeout_and_is_refused_beyond_it(settings):
    settings.CELERY_VISIBILITY_TIMEOUT = 270
    soon = timezone.now() + timedelta(seconds=200)

    result = django_tasks.add.using(run_after=soon).enqueue(1, 1)

    assert OutboxMessage.objects.get(pk=result.id).eta == soon
    # the default profile runs up to 30 s, so the wait must end before 270 - 30 = 240 s
    with pytest.raises(InvalidTask, match="run_after must be less than 240s away"):
        django_tasks.add.using(run_after=timezone.now() + timedelta(seconds=241))


def test_unsupported_features_raise_djangos_invalid_task():
    with pytest.raises(InvalidTask, match="Queue 'reports' is not valid"):
        django_tasks.add.using(queue_name="reports")
    with pytest.raises(InvalidTask, match="async"):
        task(_async_task)
    with pytest.raises(InvalidTask, match="takes_context"):
        task(takes_context=True)(_context_task)


def test_lower_django_priorities_map_onto_redis_s_later_lists_and_the_default_onto_none(app_broker):
    app_broker("redis://127.0.0.1:6379/0")  # the mapping reads the broker's kind from its URL only

    # the default publishes as every task does, with no priority; kombu's steps 3, 6, 9 are ever less urgent
    assert broker_priority(0) is None
    assert [broker_priority(p) for p in (-1, -34, -35, -67, -68, -100)] == [3, 3, 6, 6, 9, 9]
    # nothing runs before the default on Redis, so a higher priority is refused rather than ignored
    with pytest.raises(InvalidTask, match="default priority 0 already runs first"):
        django_tasks.add.using(priority=1)


def test_a_priority_is_refused_on_rabbitmq_whose_queues_ignore_it(app_broker, monkeypatch):
    # as the settings configure an amqp:// CELERY_BROKER_URL: no Redis transport class
    monkeypatch.setitem(app.conf, "broker_transport", None)
    app_broker("amqp://guest:guest@127.0.0.1:5672//")

    with pytest.raises(InvalidTask, match="broker's queues ignore priorities"):
        django_tasks.add.using(priority=-10)
    assert django_tasks.add.using(priority=0).priority == 0


def test_a_relayed_low_priority_task_waits_in_its_list_and_every_list_counts_in_the_queue_depth(redis_of_this_test):
    # given django tasks of four priorities whose on-commit publish never happened (the test never commits)
    bulk = django_tasks.add.using(queue_name="bulk")
    results = [bulk.using(priority=priority).enqueue(1, 2) for priority in (0, -10, -50, -100)]
    assert [OutboxMessage.objects.get(pk=r.id).priority for r in results] == [None, 3, 6, 9]

    # when the relay publishes them
    assert outbox.relay_pending(older_than=timedelta(0)) == 4

    # then each waits in the list of its step, and the queue's depth (metrics, check_queues, Operations) counts all
    broker = redis_client()
    assert [broker.llen(key) for key in ("bulk", "bulk\x06\x163", "bulk\x06\x166", "bulk\x06\x169")] == [1, 1, 1, 1]
    assert queue_depths()["bulk"] == 4


def test_an_unknown_result_id_does_not_exist():
    with pytest.raises(TaskResultDoesNotExist):
        django_tasks.add.get_result("00000000-0000-0000-0000-000000000000")


async def _async_task():
    pass


def _context_task(context):
    pass


@pytest.fixture
def announced():
    """The django.tasks signals sent, as (signal, task path, status)."""
    sent = []

    def receiver(signal, sender, task_result, **kwargs):
        sent.append((signal, task_result.task.module_path, task_result.status))

    for signal in (task_started, task_finished):
        signal.connect(receiver)
    yield sent
    for signal in (task_started, task_finished):
        signal.disconnect(receiver)


def test_a_run_sends_djangos_task_started_and_task_finished(eager, announced):
    succeeding, failing = django_tasks.add.enqueue(2, 3), django_tasks.refuse.enqueue("x")

    run_on_worker(succeeding)
    run_on_worker(failing)

    assert announced == [
        (task_started, "tests.support.django_tasks.add", TaskResultStatus.RUNNING),
        (task_finished, "tests.support.django_tasks.add", TaskResultStatus.SUCCESSFUL),
        (task_started, "tests.support.django_tasks.refuse", TaskResultStatus.RUNNING),
        (task_finished, "tests.support.django_tasks.refuse", TaskResultStatus.FAILED),
    ]
