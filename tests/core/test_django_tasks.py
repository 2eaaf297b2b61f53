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
from core.tasking.django_tasks import RUNNERS
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
    with pytest.raises(InvalidTask, match="priority"):
        django_tasks.add.using(priority=10)
    with pytest.raises(InvalidTask, match="async"):
        task(_async_task)
    with pytest.raises(InvalidTask, match="takes_context"):
        task(takes_context=True)(_context_task)


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
