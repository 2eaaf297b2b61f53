"""The bare app (bench/bare_app.py) with one lever of the project: task events flushed every 50 ms
(core.tasking.consumer.BatchedEventsConsumer), nothing else of the project. Diagnosis only: what task events cost
stock Celery once batched, the figure behind docs/upstream/celery-task-events-flush-interval.md."""

from bench.bare_app import app

app.conf.worker_consumer = "core.tasking.consumer:BatchedEventsConsumer"
