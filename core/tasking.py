"""The base class of every project task: missing objects are skipped with a warning, and a task that gives
up leaves a dead letter a person can see and retry."""

import logging
import smtplib
import socket

from celery import Task
from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

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
)


class ProjectTask(Task):
    # Exponential backoff with jitter, capped below the broker's visibility timeout (core.checks).
    retry_backoff = 2
    retry_backoff_max = 240
    retry_jitter = True
    max_retries = 5

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except ObjectDoesNotExist as exc:
            # Deleted since it was enqueued: retrying cannot bring it back.
            logger.warning("%s skipped, object not found: %s (args=%r)", self.name, exc, args)
            return None

    def retry(self, *args, **kwargs):
        # django-celery-results stores request.meta with the RETRY state: the order page shows "retrying (n)".
        self.request.meta = {"retry": (self.request.retries or 0) + 1}
        return super().retry(*args, **kwargs)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from core.deadletters import dead_letter_record

        dead_letter_record(
            task_id=task_id,
            task_name=self.name,
            queue=self.queue or "default",
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            exception=repr(exc),
            traceback=str(einfo) if einfo else "",
            attempts=(self.request.retries or 0) + 1,
        )
