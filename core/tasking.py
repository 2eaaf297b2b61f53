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


def exception_text(exc: BaseException) -> str:
    """The class and message a person needs, also for an exception whose str() is empty: then its args, or
    else the attributes it keeps its details in."""
    detail = str(exc) or ", ".join(map(repr, exc.args)) or ", ".join(f"{k}={v!r}" for k, v in vars(exc).items())
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


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
        except Exception as exc:
            # Celery hands on_failure a copy rebuilt from the exception's args, which drops the message of an
            # exception keeping it elsewhere (fpdf2's encoding error read as a bare "FPDFException()").
            self.request.raised = exc
            raise

    def retry(self, *args, **kwargs):
        # django-celery-results stores request.meta with the RETRY state: the order page shows "retrying (n)".
        self.request.meta = {"retry": (self.request.retries or 0) + 1}
        return super().retry(*args, **kwargs)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from core.deadletters import dead_letter_record

        raised = getattr(self.request, "raised", None)
        if isinstance(raised, type(exc)):
            exc = raised

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
