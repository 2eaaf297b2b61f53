"""Tasks for reliability tests only, loaded into their workers with `-I`: each records in the suite's Redis
that it ran, so a test can count runs per task."""

import time

from celery import shared_task

from core.redis import redis_client
from core.tasking.policy import ProjectTask
from tests.reliability.probe_runs import RUNS_KEY, STARTED_KEY


@shared_task(base=ProjectTask, name="tests.record_run")
def record_run(label: str):
    redis_client().rpush(RUNS_KEY, label)


@shared_task(base=ProjectTask, name="tests.record_run_slowly")
def record_run_slowly(label: str, seconds: float):
    redis_client().rpush(STARTED_KEY, label)
    time.sleep(seconds)
    redis_client().rpush(RUNS_KEY, label)


@shared_task(base=ProjectTask, bind=True, name="tests.record_run_after_one_retry")
def record_run_after_one_retry(self, label: str, countdown: float):
    if not self.request.retries:
        raise self.retry(countdown=countdown)
    redis_client().rpush(RUNS_KEY, label)
