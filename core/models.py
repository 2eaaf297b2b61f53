"""Tables for background work: the transactional outbox, every task's job row, and dead letters of tasks that
gave up."""

import uuid

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A task message written in the same transaction as the change that needs it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # also the Celery task id
    task_name = models.CharField(max_length=200)
    queue = models.CharField(max_length=50)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    # Not before this time (a django.tasks run_after): published with it, so the worker holds the message.
    eta = models.DateTimeField(null=True, blank=True)
    # The broker's priority (a django.tasks priority mapped by core.tasking.django_tasks), null for none: kept
    # here so a message the relay publishes later waits in the same list as one published on commit.
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    # The enqueuing request's trace headers (W3C traceparent, Sentry's sentry-trace and baggage), restored for
    # the publish, so a message the relay sends later still continues the click's trace.
    trace_context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_unpublished", condition=models.Q(published_at__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.task_name}{tuple(self.args)} [{self.pk}]"


class Job(models.Model):
    """One task's life, written by the task base class (core.tasking.jobs): what every page reads about background work.

    Keyed by the Celery task id, which for an enqueued task is its outbox row's id. Chain and group members
    point at the job that started them."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.CharField(primary_key=True, max_length=191)
    task_name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # The domain row the task is about (its first argument, when the task declares a subject), e.g.
    # ("orders.order", "7"): how a page finds its object's jobs without knowing task arguments.
    subject_type = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempt = models.PositiveIntegerField(default=0)  # of the run under way or last run; 0 before the first
    next_try_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)  # why it retries, failed or was cancelled, as a person reads it
    error_class = models.CharField(max_length=200, blank=True)  # dotted path of the exception it failed with
    return_value = models.JSONField(null=True, blank=True)  # of a django.tasks task, which reads it back
    worker = models.CharField(max_length=200, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)  # the OpenTelemetry trace it was enqueued in
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "task_name", "-queued_at"], name="job_subject"),
            models.Index(fields=["task_name", "-updated_at"], name="job_task_recent"),
            models.Index(fields=["updated_at"], name="job_updated"),
        ]

    def __str__(self):
        return f"{self.task_name}{tuple(self.args)} [{self.pk}]: {self.state}"

    @property
    def finished(self) -> bool:
        return self.state in {self.State.SUCCEEDED, self.State.FAILED, self.State.CANCELLED}


class DeadLetter(models.Model):
    """A task that gave up, or a message no worker could read: enough to understand the failure and to run
    it again."""

    task_id = models.CharField(max_length=191, unique=True)
    task_name = models.CharField(max_length=200, db_index=True)
    queue = models.CharField(max_length=50)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    exception = models.TextField()
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    retried_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # A message the worker could not read at all (wrong body shape, bad headers, unknown task): kept as it
    # arrived for a person to read; it has no arguments to retry with.
    malformed = models.BooleanField(default=False)
    raw_headers = models.TextField(blank=True)
    raw_body = models.TextField(blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    content_encoding = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self):
        return f"{self.task_name}{tuple(self.args)}: {self.exception[:80]}"
