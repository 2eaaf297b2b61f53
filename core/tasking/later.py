"""Bookkeeping a worker's pool process does a moment later, on one thread of its own, or never if the moment
does not come: the running mark of a task still running after RUNNING_MARK_DELAY (core.tasking.jobs), metrics
flushed once a second (core.operations.metrics). A short task then pays no write for either (BENCHMARKS.md).

Each piece of work sits in a named slot: scheduling a slot again replaces what it held, and `cancel` takes it
back. Work runs holding the slots' lock, so a `cancel` that finds nothing comes after the work, not during it."""

import logging
import math
import os
import threading
import time
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)


class Later:
    def __init__(self):
        self._pid = None

    def schedule(self, slot: str, delay: float, work: Callable[[], None]) -> None:
        due = time.monotonic() + delay
        with self._started():
            self._slots[slot] = (due, work)
            # Woken only to run sooner than planned: a pool process schedules a slot per task, and a thread
            # woken for each would cost every task two thread switches.
            if due < self._wakes_at:
                self._condition.notify()

    def cancel(self, slot: str) -> Callable[[], None] | None:
        """The slot's work, taken back before it ran; None once it ran (or when nothing was scheduled)."""
        if self._pid != os.getpid():
            return None  # nothing was scheduled in this process
        with self._condition:
            _due, work = self._slots.pop(slot, (None, None))
            return work

    def _started(self) -> threading.Condition:
        # A forked pool process inherits neither the thread nor a safe lock: each process starts its own.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._condition = threading.Condition()
            self._slots: dict[str, tuple[float, Callable[[], None]]] = {}
            self._wakes_at = math.inf
            threading.Thread(target=self._run, name="bookkeeping-later", daemon=True).start()
        return self._condition

    def _run(self) -> None:
        with self._condition:
            while True:
                if not self._slots:
                    self._wakes_at = math.inf
                    self._condition.wait()
                    continue
                slot, (due, work) = min(self._slots.items(), key=lambda item: item[1][0])
                if (wait := due - time.monotonic()) > 0:
                    self._wakes_at = due
                    self._condition.wait(wait)
                    continue
                del self._slots[slot]
                try:
                    work()
                except Exception:
                    logger.exception("bookkeeping %s failed", slot)
                finally:
                    # This thread's own database connection, opened only when there was work for it.
                    connections.close_all()


later = Later()
