"""Task policy declared once: queue profiles, the `project_task` decorator, and the base class under which a
task that gives up leaves a dead letter a person can see and retry."""

import logging
import select
import signal
import smtplib
import socket
import time
from dataclasses import dataclass

from botocore.exceptions import ConnectionError as ObjectStorageConnectionError
from botocore.exceptions import HTTPClientError as ObjectStorageHTTPError
from celery import Task, current_task, shared_task, signals
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.db.models import Model
from kombu.exceptions import OperationalError as BrokerError

from core.models import Job
from core.tasking import finished_marks, jobs

logger = logging.getLogger(__name__)

# Errors worth a retry: the network, the mail server or the database blinked. Anything else is a bug or
# bad input, and retrying it only delays the dead letter.
TRANSIENT_ERRORS = (
    ConnectionError,
    TimeoutError,
    socket.timeout,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPResponseException,
    OperationalError,
    InterfaceError,
    BrokerError,  # a fan-out that cannot publish its batches yet
    # Object storage (settings.STORAGES) unreachable or timing out after boto3's own three tries.
    ObjectStorageConnectionError,
    ObjectStorageHTTPError,
)


def exception_text(exc: BaseException) -> str:
    """The class and message a person needs, also for an exception whose str() is empty: then its args, or
    else the attributes it keeps its details in."""
    detail = str(exc) or ", ".join(map(repr, exc.args)) or ", ".join(f"{k}={v!r}" for k, v in vars(exc).items())
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


@dataclass(frozen=True)
class QueueProfile:
    """Where a kind of task runs and how long it may take; every limit stays below CELERY_VISIBILITY_TIMEOUT
    (270 s, enforced by core.tasking.checks) so the broker never redelivers a task that still runs."""

    queue: str
    soft_time_limit: int
    time_limit: int
    autoretry_for: tuple[type[BaseException], ...] = TRANSIENT_ERRORS


# Steps of the order pipeline: a few row updates each.
DEFAULT = QueueProfile(queue="default", soft_time_limit=20, time_limit=30)
# One call to a payment gateway or an HTTP feed, whose own timeouts sit inside these limits.
REMOTE_CALL = QueueProfile(queue="default", soft_time_limit=50, time_limit=60)
# One message through SMTP; its own queue, so a large newsletter never delays an invoice.
EMAIL = QueueProfile(queue="email", soft_time_limit=50, time_limit=60)
# Fan-outs and batches of bulk work.
BULK = QueueProfile(queue="bulk", soft_time_limit=120, time_limit=150)
# Whole-table sweeps and file imports that commit in batches, so a stopped run resumes where it was.
BULK_LONG = QueueProfile(queue="bulk", soft_time_limit=210, time_limit=240)


# Messages a worker reserves per pool process, by the queue it serves (set in myproject/celery.py): a worker on
# several queues takes the smallest, and --prefetch-multiplier on its command line overrides them. With 1, a pool
# process that ends a task waits for the broker round trips that fetch and record the next one; with 2 the next
# one waits in the worker instead, which took about a tenth off the default queue's time per short task
# (BENCHMARKS.md).
# The cost: behind a slow task (a 60 s payment call) its reserved message waits too, where an idle worker could
# have taken it; a crash hands it back like the running one. Email and bulk keep 1: their tasks are long enough
# that the round trips do not count, and a reserved import would wait minutes.
QUEUE_PREFETCH_MULTIPLIER = {"default": 2, "email": 1, "bulk": 1}


def queue_prefetch_multiplier(queue_names, otherwise: int) -> int:
    return min((QUEUE_PREFETCH_MULTIPLIER.get(name, otherwise) for name in queue_names), default=otherwise)


# The profiles by name: a django.tasks task picks one as its queue_name (core.tasking.django_tasks).
PROFILES = {"default": DEFAULT, "remote_call": REMOTE_CALL, "email": EMAIL, "bulk": BULK, "bulk_long": BULK_LONG}


def project_task(name: str, profile: QueueProfile, *, subject: str = "", **overrides):
    """A project task named `<app>.<verb_object>`, routed and limited by its profile; `subject` names the model
        (`"orders.Order"`) whose id is its first argument, so pages find its jobs; `overrides` are Celery task
        options for the odd one out (`ignore_result=False` for a task whose result admin and Flower show, a `base`
    subclassing ProjectTask)."""
    options = {
        "subject": subject,
        "queue": profile.queue,
        "soft_time_limit": profile.soft_time_limit,
        "time_limit": profile.time_limit,
        "autoretry_for": profile.autoretry_for,
    }
    return shared_task(**({"base": ProjectTask, "name": name} | options | overrides))


def load_or_skip[M: Model](model: type[M], pk) -> M | None:
    """The row a task was enqueued for, or None with a warning when it was deleted since: retrying cannot bring
    it back. Only this lookup is forgiven; a DoesNotExist raised later is a bug and dead-letters."""
    found = model._default_manager.filter(pk=pk).first()
    if found is None:
        logger.warning("%s skipped, object not found: %s %r", current_task.name, model.__name__, pk)
    return found


# Set in a pool process once its pool sent it SIGTERM: the end of a stopping worker's soft shutdown, or a revoke
# with terminate.
_terminating = False


@signals.worker_process_init.connect
def _note_termination(**_kwargs):
    """Wrap billiard's SIGTERM handler in each pool process, which raises SystemExit wherever the task is."""
    previous = signal.getsignal(signal.SIGTERM)

    def note(signum, frame):
        global _terminating
        _terminating = True
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, note)


# Django's health check (conn_health_checks) costs a round trip, a SELECT 1, before each task's first query: on
# a busy worker, a third of a short task's round trips to PostgreSQL (BENCHMARKS.md). A connection the last task
# used a moment ago is checked without one: a server that ends a connection (a restart, pg_terminate_backend, an
# idle timeout) says so on its socket first, so an idle connection with nothing to read is still open.
CONNECTION_FRESH_SECONDS = 1.0
_last_task_ended = -CONNECTION_FRESH_SECONDS


def _nothing_to_read(connection) -> bool:
    try:
        readable, _, _ = select.select([connection.connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


@signals.task_prerun.connect
def _before_task_check_database_connections(sender=None, **_kwargs):
    """Django's rule for requests, around each task: a connection past CONN_MAX_AGE or left broken by an error is
    closed, and the next query checks the one kept. Celery's own rule, a new connection for every task, is off
    (CELERY_DB_REUSE_MAX in settings). Not in eager mode, where the caller owns the connection."""
    if getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
    if time.monotonic() - _last_task_ended < CONNECTION_FRESH_SECONDS:
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None and _nothing_to_read(connection):
                connection.health_check_done = True


@signals.task_postrun.connect
def _after_task_close_old_database_connections(sender=None, **_kwargs):
    global _last_task_ended
    if getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
    _last_task_ended = time.monotonic()


class ProjectTask(Task):
    """Writes the task's job row (core.tasking.jobs) at each turn of its life, and a dead letter when it gives up."""

    # Exponential backoff with jitter, capped below the broker's visibility timeout (core.tasking.checks).
    retry_backoff = 2
    retry_backoff_max = 240
    retry_jitter = True
    max_retries = 5
    subject = ""
    # A django.tasks runner (core.tasking.django_tasks): its job row is the result its caller reads.
    runs_django_task = False
    # A succeeded task is acknowledged by its pool process once its end is recorded (core.tasking.finished_marks).
    end_recorded_in_batches = True
    Request = "core.tasking.finished_marks:ProjectRequest"

    def before_start(self, task_id, args, kwargs):
        jobs.job_started(
            task_id=task_id,
            task_name=self.name,
            args=args,
            kwargs=kwargs,
            root_id=self.request.root_id,
            attempt=(self.request.retries or 0) + 1,
            worker=self.request.hostname or "",
            # A django.tasks result shows RUNNING as soon as it runs; eager mode has no pool process.
            defer=not (self.runs_django_task or self.request.is_eager),
        )

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if _terminating:
                # SystemExit raised mid-query (say in a COMMIT) makes Django's cleanup fail with a database
                # error that replaces it; recorded as a failure, the task would be acknowledged and lost.
                # Exiting instead leaves the message unacknowledged, so the stopping worker requeues it.
                raise SystemExit("terminated by the pool") from exc
            # Celery hands on_failure a copy rebuilt from the exception's args, which drops the message of an
            # exception keeping it elsewhere (fpdf2's encoding error read as a bare "FPDFException()").
            self.request.raised = exc
            raise

    def retry(self, *args, throw=True, **kwargs):
        # Raises the error itself once the retries are spent; otherwise the next attempt is published by now.
        retrying = super().retry(*args, throw=False, **kwargs)
        jobs.job_retrying(
            task_id=self.request.id,
            attempt=(self.request.retries or 0) + 1,
            when=retrying.when,
            error=exception_text(retrying.exc) if retrying.exc else "",
        )
        if throw:
            raise retrying
        return retrying

    def on_success(self, retval, task_id, args, kwargs):
        batched = not self.request.is_eager and finished_marks.ends_recorded_in_batches(self)
        jobs.job_succeeded(task_id=task_id, acknowledging=self.request.properties["delivery_tag"] if batched else None)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from core.tasking.deadletters import dead_letter_record

        raised = getattr(self.request, "raised", None)
        if isinstance(raised, type(exc)):
            exc = raised

        jobs.job_finished(
            task_id=task_id,
            state=Job.State.FAILED,
            error=exception_text(exc),
            error_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
            durable=self.runs_django_task,
        )
        dead_letter_record(
            task_id=task_id,
            task_name=self.name,
            queue=self.queue or "default",
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            exception=exception_text(exc),
            traceback=str(einfo) if einfo else "",
            attempts=(self.request.retries or 0) + 1,
        )
