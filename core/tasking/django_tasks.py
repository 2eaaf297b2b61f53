"""A `django.tasks` backend on the project's plumbing: `Task.enqueue()` writes an outbox row in the caller's
transaction (published after commit, relayed if the broker was down), a Celery runner per queue profile runs the
task on the project's workers under the same policy (limits, retries, dead letters, job rows), and
`get_result()` reads the job row.

Django's queue names are the queue profiles of core.tasking.policy (`default`, `remote_call`, `email`, `bulk`,
`bulk_long`): each names the Celery queue and the time limits the task runs under."""

from datetime import timedelta

from celery import current_app as app
from django.conf import settings
from django.tasks import Task, TaskResult, TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import DEFAULT_TASK_PRIORITY, TASK_MIN_PRIORITY, TaskError
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import import_string
from kombu.transport.redis import PRIORITY_STEPS

from core.models import DeadLetter, Job
from core.tasking import jobs, outbox
from core.tasking.policy import PROFILES, ProjectTask, QueueProfile, project_task

RUNNER_PREFIX = "core.run_django_task_"

STATUSES = {
    Job.State.QUEUED: TaskResultStatus.READY,
    Job.State.RETRYING: TaskResultStatus.READY,  # Django: "ready to be executed again"
    Job.State.RUNNING: TaskResultStatus.RUNNING,
    Job.State.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    Job.State.FAILED: TaskResultStatus.FAILED,
    Job.State.CANCELLED: TaskResultStatus.FAILED,  # Django: "unable to start"
}


class DjangoTaskRunner(ProjectTask):
    """Keeps the return value on the job row, where `get_result()` reads it, and sends Django's task_started and
    task_finished (a retry is neither: the attempt after it starts again)."""

    runs_django_task = True

    def before_start(self, task_id, args, kwargs):
        super().before_start(task_id, args, kwargs)
        _announce(task_started, module_path=args[0], task_id=task_id)

    def on_success(self, retval, task_id, args, kwargs):
        jobs.job_succeeded(task_id=task_id, return_value=retval, durable=True)
        _announce(task_finished, module_path=args[0], task_id=task_id)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        super().on_failure(exc, task_id, args, kwargs, einfo)
        _announce(task_finished, module_path=args[0], task_id=task_id)


def _announce(signal, *, module_path: str, task_id: str) -> None:
    """Sends a django.tasks signal with the result as `get_result()` reads it from the job row."""
    task = _task_at(module_path)
    if task is not None:
        backend = task.get_backend()
        signal.send(type(backend), task_result=backend.get_result(task_id))


def _runner_for(profile_name: str, profile: QueueProfile):
    def run(module_path: str, args: list, kwargs: dict):
        task = import_string(module_path)
        if not isinstance(task, Task):
            raise InvalidTask(f"{module_path} is not a django.tasks task.")
        return normalize_json(task.call(*args, **kwargs))

    run.__name__ = run.__qualname__ = f"run_django_task_{profile_name}"
    run.__module__ = __name__
    return project_task(f"{RUNNER_PREFIX}{profile_name}", profile, base=DjangoTaskRunner)(run)


# One registered Celery task per profile, in every process that loads core (web, workers, beat, relay).
RUNNERS = {name: _runner_for(name, profile) for name, profile in PROFILES.items()}


class OutboxBackend(BaseTaskBackend):
    supports_defer = True
    supports_get_result = True
    # Priorities at or below the default, on Redis only (broker_priority says why).
    supports_priority = True
    # Celery's prefork pool runs plain functions; an async task would need an event loop per call.
    supports_async_task = False

    def __init__(self, alias, params):
        super().__init__(alias, params)
        if "QUEUES" not in params:
            self.queues = set(PROFILES)
        if unknown := self.queues - set(PROFILES):
            raise InvalidTaskBackend(f"Queues {sorted(unknown)} are not queue profiles: use {sorted(PROFILES)}.")

    def validate_task(self, task):
        super().validate_task(task)
        if task.takes_context:
            # The job row keeps the last attempt only, not the attempts' history a TaskContext reports.
            raise InvalidTask("Backend does not support takes_context.")
        if task.run_after is not None:
            # A worker holds an eta message unacknowledged until it has run: the wait plus the run must end
            # before the broker's visibility timeout, or the message is handed out a second time (core.E001
            # holds every limit and retry delay below the same timeout).
            longest = timedelta(seconds=settings.CELERY_VISIBILITY_TIMEOUT - PROFILES[task.queue_name].time_limit)
            if task.run_after - timezone.now() >= longest:
                raise InvalidTask(
                    f"run_after must be less than {longest.total_seconds():.0f}s away on queue "
                    f"'{task.queue_name}' (CELERY_VISIBILITY_TIMEOUT minus its {PROFILES[task.queue_name].time_limit}s "
                    "time limit)."
                )
        broker_priority(task.priority)

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        runner = RUNNERS[task.queue_name]
        task_id = outbox.enqueue_by_name(
            task_name=runner.name,
            queue=runner.queue,
            args=[task.module_path, args, kwargs],
            kwargs={},
            eta=task.run_after,
            priority=broker_priority(task.priority),
        )
        result = TaskResult(
            task=task,
            id=task_id,
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id):
        job = Job.objects.filter(pk=result_id).first()
        task = _task_at(job.task_name) if job else None
        if task is None:
            raise TaskResultDoesNotExist(result_id)
        errors = []
        if job.state == Job.State.FAILED:
            letter = DeadLetter.objects.filter(task_id=result_id).first()
            errors = [
                TaskError(
                    exception_class_path=job.error_class or "builtins.Exception",
                    traceback=letter.traceback if letter else job.error,
                )
            ]
        result = TaskResult(
            task=task,
            id=job.pk,
            status=STATUSES[job.state],
            enqueued_at=job.queued_at,
            started_at=job.started_at,
            last_attempted_at=job.started_at,
            finished_at=job.finished_at,
            args=job.args,
            kwargs=job.kwargs,
            backend=self.alias,
            errors=errors,
            # The job row keeps the last attempt's worker; repeated so `attempts` counts every attempt.
            worker_ids=[job.worker] * job.attempt,
        )
        object.__setattr__(result, "_return_value", job.return_value)
        return result


def broker_priority(priority: int) -> int | None:
    """The broker's priority for a Django priority (-100 lowest, 100 highest); None for the default, which is
    published as every other task of the project is, with no priority.

    Redis keeps a queue as one list per step of kombu's priority_steps (0, 3, 6, 9; the list of step n is
    `<queue>\\x06\\x16<n>`, step 0 the queue's own list) and a worker pops them in that order, so 0 is the most
    urgent and every task without a priority is already there: a Django priority above the default has
    nowhere to go ahead of it, and those below it spread over the later steps. RabbitMQ ignores a message's
    priority on the project's queues: they are declared without x-max-priority (classic queues; quorum queues
    honour priorities only from RabbitMQ 4.0 on)."""
    if priority == DEFAULT_TASK_PRIORITY:
        return None
    with app.connection_for_write() as connection:
        broker = connection.transport.driver_type
    if broker != "redis":
        raise InvalidTask(
            f"priority {priority}: the {broker} broker's queues ignore priorities (declared without "
            "x-max-priority); only the default priority 0 can be enqueued."
        )
    if priority > DEFAULT_TASK_PRIORITY:
        raise InvalidTask(
            f"priority {priority}: on Redis the default priority 0 already runs first (every task without a "
            "priority waits in the queue's most urgent list); give the work that may wait a negative priority."
        )
    later_steps = sorted(app.conf.broker_transport_options.get("priority_steps", PRIORITY_STEPS))[1:]
    return later_steps[(-priority - 1) * len(later_steps) // -TASK_MIN_PRIORITY]


def _task_at(module_path: str) -> Task | None:
    try:
        task = import_string(module_path)
    except ImportError:
        return None
    return task if isinstance(task, Task) else None
