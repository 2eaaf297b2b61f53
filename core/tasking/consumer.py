"""The worker's consumer (CELERY_WORKER_CONSUMER): the message guard (core.tasking.message_guard), and task
events published in batches.

Celery buffers task events (received, started, succeeded...) but flushes the buffer on the next turn of the
event loop, which on a busy worker is one PUBLISH per event or two: three broker round trips per task in the
process that also fetches, dispatches and acknowledges every task. Flushed every EVENTS_FLUSH_INTERVAL instead,
one PUBLISH carries every event of that interval (at most Celery's buffer limit of 24), and Flower still sees
each event, a fraction of a second later. BENCHMARKS.md has the figures and docs/upstream the proposal."""

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu.common import ignore_errors

from core.tasking.message_guard import GuardedConsumer

EVENTS_FLUSH_INTERVAL = 0.05  # seconds


class BatchedEventsConsumer(CeleryConsumer):
    """Celery's consumer with task events flushed every EVENTS_FLUSH_INTERVAL; on its own, the bench's measure
    of what batching alone does for stock Celery."""

    _events_flush_scheduled = False

    def on_send_event_buffered(self):
        if self.hub is None:
            return super().on_send_event_buffered()
        if not self._events_flush_scheduled:
            self._events_flush_scheduled = True
            self.hub.call_later(EVENTS_FLUSH_INTERVAL, self._flush_scheduled_events)

    def _flush_scheduled_events(self):
        self._events_flush_scheduled = False
        self._flush_events()

    def shutdown(self):
        # A warm shutdown sends what the interval still holds: the last tasks' events are the ones Flower needs.
        ignore_errors(self, self._flush_events)
        super().shutdown()


class Consumer(BatchedEventsConsumer, GuardedConsumer):
    pass
