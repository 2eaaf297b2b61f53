"""A peer: Celery configured as cookiecutter-django's template configures it (config/settings/base.py, Celery section;
config/celery_app.py), to price the project's guarantees against a common Django setup.

Set as there: results in Redis (the broker's URL) with result_extended, task events and sent events on, a hard time
limit of 5 minutes and a soft one of 1 minute, JSON only. Left at Celery's defaults as there: early ack, prefetch
multiplier 4, results stored for every task. Beat's database scheduler is left out: no beat runs. Under a plain
Django project's settings (bench/settings_plain_django.py), Celery's Django fixup closes the database connection
around every task, as in a cookiecutter-django worker."""

import os

from celery import Celery

from bench import realistic

app = Celery("peer", broker=os.environ["REDIS_URL"])
app.conf.update(
    result_backend=os.environ["REDIS_URL"],
    result_extended=True,
    result_backend_always_retry=True,
    result_backend_max_retries=10,
    accept_content=["json"],
    task_serializer="json",
    result_serializer="json",
    task_time_limit=5 * 60,
    task_soft_time_limit=60,
    worker_send_task_events=True,
    task_send_sent_event=True,
)

realistic.register_bench_tasks(app)
