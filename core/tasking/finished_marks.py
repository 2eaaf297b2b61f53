"""A succeeded task's end, recorded and acknowledged in batches by its pool process (Redis broker only).

A short task's job row was one write on its critical path: the pool process could not report the task done
before its end was recorded, or the acknowledgement that followed could leave a task that ran shown as queued
for good. Here the pool process reports at once, and its worker's main process frees the task's prefetch slot
without acknowledging the message to Redis. A thread of the pool process writes the ends in one statement every
TASK_END_BATCH_INTERVAL (a setting), and only then removes those messages from Redis's unacked set. A pool
process that dies before that leaves them there: they are redelivered after the visibility timeout and run
again (every task is idempotent), never lost and never acknowledged unrecorded. A pool process that stops
(recycled, warm shutdown) writes and acknowledges what it holds first.

Only a success: a retry, a failure, a rejection and a killed pool process are acknowledged (or requeued) by the
main process as before, each after its own synchronous write. On RabbitMQ, whose acknowledgements only the
consuming channel can send, every end is written at once and acknowledged by the main process.
"""

import logging
import os
import threading
import time
from collections.abc import Callable

from celery import current_app
from celery.worker.request import Request
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


def ends_recorded_in_batches(task) -> bool:
    """The same answer in the main process and in the pool process: the two must agree on who acknowledges."""
    return (
        getattr(task, "end_recorded_in_batches", False)
        and task.acks_late
        and not task.runs_django_task  # its row is the result its caller reads: written at once, durably
        and task.app.conf.broker_transport == "core.tasking.redis_transport:Transport"
    )


class ProjectRequest(Request):
    """The main process's side: a task whose pool process records and acknowledges its end frees only its
    prefetch slot here when it succeeded."""

    _succeeded = False

    def __init_subclass__(cls, **kwargs):
        # Celery builds a subclass of this per task (celery.worker.request.create_request_cls) whose on_success
        # acknowledges without saying that the task succeeded: note it first.
        super().__init_subclass__(**kwargs)
        if (on_success := cls.__dict__.get("on_success")) is not None:

            def noting_success(self, failed__retval__runtime, **options):
                self._succeeded = not failed__retval__runtime[0]
                return on_success(self, failed__retval__runtime, **options)

            cls.on_success = noting_success

    def acknowledge(self):
        if self._succeeded and not self.acknowledged and ends_recorded_in_batches(self.task):
            self.message.channel.qos.release(self.message.delivery_tag)
            self.acknowledged = True
            return
        super().acknowledge()


class EndsInBatches:
    """The pool process's side: ends waiting for their batch, and the thread that sends it. `write_rows` writes
    the job rows of a batch."""

    def __init__(self, write_rows: Callable[[list], None]):
        self._write_rows = write_rows
        self._pid = None

    def add(self, row, delivery_tag: str) -> None:
        """`row`: the job row to upsert, or None for a task whose row was written already."""
        with self._started():
            if row is not None:
                self._rows[row.pk] = row  # a message delivered twice to one process is recorded once
            self._tags.append(delivery_tag)
            if len(self._tags) == 1:
                self._condition.notify()

    def send(self) -> None:
        """Writes and acknowledges what waits now (the thread's work; also at the process's exit)."""
        if self._pid != os.getpid():
            return
        with self._sending:
            with self._condition:
                rows, self._rows = list(self._rows.values()), {}
                tags, self._tags = self._tags, []
            if rows:
                self._write_rows(rows)
            if tags:
                self._acknowledge(tags)

    def _acknowledge(self, tags: list[str]) -> None:
        try:
            if self._broker is None:
                self._broker = current_app.connection_for_write()
            self._broker.default_channel.qos.acknowledge_now(tags)
        except Exception:
            # Left in Redis's unacked set, each runs again after the visibility timeout; the next channel of this
            # process sends the ones the transport kept (core.tasking.redis_transport).
            logger.warning("%d acknowledgement(s) not sent", len(tags), exc_info=True)
            broker, self._broker = self._broker, None
            if broker is not None:
                broker.collect()

    def _started(self) -> threading.Condition:
        # A forked pool process inherits neither the thread nor a safe lock: each process starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._condition = threading.Condition()
            self._sending = threading.Lock()
            self._rows = {}
            self._tags: list[str] = []
            self._broker = None
            threading.Thread(target=self._run, name="ends-in-batches", daemon=True).start()
        return self._condition

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._tags:
                    self._condition.wait()
            time.sleep(settings.TASK_END_BATCH_INTERVAL)  # let the batch fill
            try:
                close_old_connections()  # this thread's own connection, kept as requests keep theirs
                self.send()
            except Exception:
                logger.exception("a batch of task ends failed")
