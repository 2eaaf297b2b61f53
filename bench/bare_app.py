"""A bare Celery app on the same Redis, Celery's defaults only: the yardstick for the project worker."""

import os

from celery import Celery

from bench import probes

app = Celery("bare", broker=os.environ["REDIS_URL"])
app.conf.task_ignore_result = True


@app.task(name="bare.record_done")
def record_done():
    probes.record_done()
