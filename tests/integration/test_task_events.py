"""Task events, which Flower lists, leave the worker in batches (core/tasking/consumer.py): every task's
received, started and succeeded events still arrive, several to a broker message. Celery's own flush, on the
next turn of the event loop, sent about one a message (109 messages for 120 events, measured)."""

import threading

import pytest
from celery.events.receiver import EventReceiver
from kombu import Connection

from myproject.celery import app
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

TASKS = 30
SHOWN_BY_FLOWER = {"task-received", "task-started", "task-succeeded"}


class CountingReceiver(EventReceiver):
    """Counts the batches a worker's task events arrive in (a list each); Celery's receiver unpacks them."""

    batches = batched_events = 0

    def _receive(self, body, message, *args, **kwargs):
        if isinstance(body, list):
            self.batches += 1
            self.batched_events += len(body)
        return super()._receive(body, message, *args, **kwargs)


def test_every_task_s_events_arrive_batched(redis_of_this_test, process_logs):
    events: dict[str, set[str]] = {}
    receiver = CountingReceiver(
        Connection(redis_of_this_test),
        handlers={"*": lambda event: events.setdefault(event.get("uuid", ""), set()).add(event["type"])},
        app=app,
    )
    listening = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
    listening.start()
    worker = start_worker(
        process_logs,
        name="events-worker",
        queues="default",
        REDIS_URL=redis_of_this_test,
        CELERY_BROKER_URL=redis_of_this_test,
    )
    try:
        # a missing order: each task warns and succeeds at once, so the events come fast
        ids = [app.send_task("orders.validate_order", args=[-1 - n], queue="default").id for n in range(TASKS)]

        wait_until(
            lambda: all(events.get(task_id, set()) >= SHOWN_BY_FLOWER for task_id in ids),
            60,
            "some task's events never arrived",
            worker,
        )
    finally:
        worker.stop()
        receiver.should_stop = True
        listening.join(timeout=10)
    assert receiver.batched_events >= TASKS * len(SHOWN_BY_FLOWER)
    assert receiver.batched_events / receiver.batches >= 3
