"""Job rows: every task's life, from the message written (queued) through its runs (running, retrying) to its
end (succeeded, failed, cancelled). The outbox, the publish hook and the task base class write them; pages
read them here and in their apps' selectors, never from the result backend or the outbox."""

import functools
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app, signals
from django.db import DatabaseError, transaction
from django.db.models import Count, Model, Q, QuerySet
from django.utils import timezone

from core.database import bookkeeping_update, bookkeeping_upsert, bookkeeping_upsert_many
from core.models import Job
from core.tasking.finished_marks import EndsInBatches
from core.tasking.later import later

logger = logging.getLogger(__name__)

# A message whose job row the outbox wrote in the transaction that enqueued it: the publish hook skips it.
RECORDED_HEADER = "job_recorded"
RETENTION = timedelta(days=7)
ACTIVITY_WINDOW = timedelta(hours=24)
# A task still running this long after it began gets its running mark; one done sooner writes only its end.
RUNNING_MARK_DELAY = 0.25  # seconds
STARTED_FIELDS = ["state", "attempt", "worker", "started_at", "updated_at", "next_try_at", "error", "finished_at"]
FINISHED_FIELDS = ["state", "error", "error_class", "return_value", "next_try_at", "finished_at", "updated_at"]
# A row written once, at its task's end: its start and its end.
ENDED_FIELDS = list(dict.fromkeys([*STARTED_FIELDS, *FINISHED_FIELDS]))

# Set by a task body that called its work off. Not on the request: Celery runs a task with its own __call__
# under a fresh request context, gone by the time on_success reads it.
_cancel_reason: ContextVar[str] = ContextVar("job_cancel_reason", default="")


# --- Writing --------------------------------------------------------------------------------------


def job_queued(*, task_id: str, task_name: str, args: list, kwargs: dict, trace_id: str = "") -> Job:
    """The job of a message the outbox writes; call it in the same transaction as the outbox row."""
    job = _new_job(task_id, task_name, args, kwargs, None)
    job.trace_id = trace_id
    job.save(force_insert=True)
    return job


def job_published(sender: str, headers: dict, body, **_kwargs) -> None:
    """before_task_publish: a message sent straight to the broker (a chain or group member, a chord callback,
    beat, `celery call`) gets its queued row here, and so do the later steps of a chain it carries, whose ids
    Celery fixed when it built the chain. A retry's message reuses the row of its job."""
    if headers.get(RECORDED_HEADER) or headers.get("retries") or sender.startswith("celery."):
        return  # recorded by the outbox, a later attempt, or Celery's own plumbing (chord_unlock)
    task_id, root_id = headers["id"], headers.get("root_id")
    parent_id = root_id if root_id and root_id != task_id else None
    args, kwargs, embed = body if isinstance(body, tuple | list) and len(body) == 3 else ([], {}, {})
    jobs = [_new_job(task_id, sender, list(args), dict(kwargs), parent_id)]
    for step in (embed or {}).get("chain") or ():
        if step_id := step.get("options", {}).get("task_id"):
            jobs.append(
                _new_job(
                    step_id, step["task"], list(step.get("args", ())), step.get("kwargs", {}), parent_id or task_id
                )
            )
    _write(lambda: _in_transaction(Job.objects.bulk_create, jobs, ignore_conflicts=True), "queued", task_id)


def job_started(
    *, task_id: str, task_name: str, args, kwargs, root_id: str | None, attempt: int, worker: str, defer: bool = False
) -> None:
    """A worker began an attempt. Written whether or not the queued row exists: a message from outside the
    project's publishers still gets its job. `defer` (in a pool process): written only if the task still runs
    after RUNNING_MARK_DELAY; a task done sooner writes its start with its end, one write instead of two."""
    _cancel_reason.set("")
    now = timezone.now()
    job = _new_job(task_id, task_name, list(args or ()), dict(kwargs or {}), root_id if root_id != task_id else None)
    job.state, job.attempt, job.worker, job.started_at, job.updated_at = Job.State.RUNNING, attempt, worker, now, now
    if defer:
        later.schedule(_running_mark_slot(task_id), RUNNING_MARK_DELAY, functools.partial(_write_start, job))
    else:
        _write_start(job)


def _write_start(job: Job) -> None:
    _write(lambda: bookkeeping_upsert(job, update_fields=STARTED_FIELDS), "running", job.pk)


def _running_mark_slot(task_id: str) -> str:
    return f"running mark of {task_id}"


def _unwritten_start(task_id: str) -> Job | None:
    """The deferred start of this task, taken back before it was written; None once written (or never deferred)."""
    write_start = later.cancel(_running_mark_slot(task_id))
    return write_start.args[0] if write_start else None


def job_retrying(*, task_id: str, attempt: int, when: datetime | float | None, error: str) -> None:
    """Attempt `attempt` failed and the next is published. Only while no later attempt has started: with a
    short countdown the next one can begin before this line is written."""
    if start := _unwritten_start(task_id):
        _write_start(start)
    now = timezone.now()
    next_try_at = when if isinstance(when, datetime) else now + timedelta(seconds=float(when or 0))
    _write(
        lambda: bookkeeping_update(
            Job.objects.filter(pk=task_id, attempt__lte=attempt),
            state=Job.State.RETRYING,
            attempt=attempt,
            next_try_at=next_try_at,
            error=error,
            updated_at=now,
        ),
        "retrying",
        task_id,
    )


def job_finished(
    *,
    task_id: str,
    state: Job.State,
    error: str = "",
    error_class: str = "",
    return_value=None,
    durable=False,
    acknowledging: str | None = None,
) -> None:
    """`durable` for a row that is the result its caller reads (a django.tasks task): its commit waits for the
    disk. Any other row only shows the end of a job whose work committed on its own. `acknowledging`: the
    delivery tag of a task whose end goes out in its pool process's next batch (core.tasking.finished_marks),
    which then acknowledges its message."""
    now = timezone.now()
    fields = dict(zip(FINISHED_FIELDS, (state, error, error_class, return_value, None, now, now), strict=True))
    if start := _unwritten_start(task_id):
        for name, value in fields.items():
            setattr(start, name, value)
        if acknowledging:
            ends_in_batches.add(start, acknowledging)
            return
        upsert = functools.partial(bookkeeping_upsert, start, update_fields=ENDED_FIELDS)
        # Durable: in a transaction of its own, the upsert commits with it, and that commit waits for the disk.
        _write((lambda: _in_transaction(upsert)) if durable else upsert, state, task_id)
        return
    row = Job.objects.filter(pk=task_id)
    if durable:
        _write(lambda: _in_transaction(row.update, **fields), state, task_id)
    else:
        _write(lambda: bookkeeping_update(row, **fields), state, task_id)
    if acknowledging:
        ends_in_batches.add(None, acknowledging)


def _ends_written(rows: list[Job]) -> None:
    """The ends of a batch of tasks whose start had not been written, each row whole."""
    _write(lambda: bookkeeping_upsert_many(rows, update_fields=ENDED_FIELDS), "ended", f"{len(rows)} tasks")


ends_in_batches = EndsInBatches(write_rows=_ends_written)


@signals.worker_process_shutdown.connect
def _send_ends_before_exit(**_kwargs):
    """A pool process that stops (recycled, warm shutdown) records and acknowledges what its batch holds."""
    ends_in_batches.send()


def job_succeeded(*, task_id: str, return_value=None, durable=False, acknowledging: str | None = None) -> None:
    """The task returned: succeeded, or cancelled when its body said its work was called off. `return_value`
    only for a django.tasks task, whose caller reads it back (a Celery task's result stays in its backend)."""
    reason = _cancel_reason.get()
    job_finished(
        task_id=task_id,
        state=Job.State.CANCELLED if reason else Job.State.SUCCEEDED,
        error=reason,
        return_value=return_value,
        durable=durable,
        acknowledging=acknowledging,
    )


def job_cancelled(reason: str) -> None:
    """Called by a task whose work was called off (a cancelled newsletter): it ends cancelled, not succeeded."""
    _cancel_reason.set(reason)


def job_revoked(request, terminated: bool = False, expired: bool = False, **_kwargs) -> None:
    """task_revoked: revoked (Flower, `celery control revoke`) or expired before it ran."""
    reason = "expired before it ran" if expired else "terminated" if terminated else "revoked"
    job_finished(task_id=request.id, state=Job.State.CANCELLED, error=reason)


def jobs_purge() -> int:
    """Forget jobs untouched for RETENTION, as the outbox forgets its published messages."""
    deleted, _ = Job.objects.filter(updated_at__lt=timezone.now() - RETENTION).delete()
    return deleted


def _new_job(task_id: str, task_name: str, args: list, kwargs: dict, parent_id: str | None) -> Job:
    task_name, args, kwargs = _described(task_name, args, kwargs)
    return Job(
        id=task_id, task_name=task_name, args=args, kwargs=kwargs, parent_id=parent_id, **_subject(task_name, args)
    )


def _described(task_name: str, args: list, kwargs: dict) -> tuple[str, list, dict]:
    """A django.tasks task runs inside a Celery runner (core.tasking.django_tasks) whose arguments are the task's
    path, args and kwargs: its job names the task and its own arguments, which is what Django's results read."""
    if getattr(current_app.tasks.get(task_name), "runs_django_task", False) and len(args) == 3:
        return str(args[0]), list(args[1]), dict(args[2])
    return task_name, args, kwargs


def _subject(task_name: str, args: list) -> dict:
    """The domain row a task is about: its first argument, when the task declares a subject model."""
    subject = getattr(current_app.tasks.get(task_name), "subject", "")
    if not subject or not args:
        return {}
    return {"subject_type": subject.lower(), "subject_id": str(args[0])}


def _write(write, what: str, task_id: str) -> None:
    """Bookkeeping never stops a task or a publish: a database that refuses the row costs the page one state
    (the next write corrects it), not the job itself. For the same reason a worker's marks commit without waiting
    for the disk, one round trip each (core.database): two ordinary transactions per task were most of a short
    task's cost (BENCHMARKS.md)."""
    try:
        write()
    except DatabaseError as exc:
        logger.warning("job %s not recorded as %s: %r", task_id, what, exc)


def _in_transaction(write, *args, **kwargs):
    """A savepoint when the caller is in a transaction: a refused row must not break the caller's."""
    with transaction.atomic():
        return write(*args, **kwargs)


# --- Reading --------------------------------------------------------------------------------------


def jobs_about(subject: Model) -> QuerySet[Job]:
    """Jobs whose task is about this row, newest first."""
    return Job.objects.filter(subject_type=subject._meta.label_lower, subject_id=str(subject.pk)).order_by("-queued_at")


def latest_job(subject: Model, task_name: str) -> Job | None:
    return jobs_about(subject).filter(task_name=task_name).first()


@dataclass(frozen=True)
class TaskKindActivity:
    """One kind of task on the Operations page: its latest job and how its runs went lately."""

    latest: Job
    succeeded: int
    failed: int


def task_kind_activity(*, window: timedelta = ACTIVITY_WINDOW) -> list[TaskKindActivity]:
    """Every task kind with a job in the window, the most recently active first."""
    since = timezone.now() - window
    latest = Job.objects.filter(updated_at__gte=since).order_by("task_name", "-updated_at").distinct("task_name")
    counts = {
        row["task_name"]: row
        for row in Job.objects.filter(updated_at__gte=since)
        .values("task_name")
        .annotate(
            succeeded=Count("id", filter=Q(state=Job.State.SUCCEEDED)),
            failed=Count("id", filter=Q(state=Job.State.FAILED)),
        )
    }
    kinds = [
        TaskKindActivity(
            latest=job, succeeded=counts[job.task_name]["succeeded"], failed=counts[job.task_name]["failed"]
        )
        for job in latest
    ]
    return sorted(kinds, key=lambda kind: kind.latest.updated_at, reverse=True)
