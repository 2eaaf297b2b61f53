"""A bare Celery app on the same Redis, Celery's defaults only: the yardstick for the project worker.

Its worker runs under a plain Django project's settings (bench/settings_plain_django.py); Celery's Django fixup is
active here too and closes the database connection around every task: bare Celery's default in a Django project,
kept as such."""

import os

from celery import Celery

from bench import realistic

app = Celery("bare", broker=os.environ["REDIS_URL"])
app.conf.task_ignore_result = True

realistic.register_bench_tasks(app)
