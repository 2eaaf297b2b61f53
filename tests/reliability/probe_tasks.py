"""Tasks for reliability tests only, loaded into their workers with `-I`: each records in the suite's Redis
that it ran, so a test can count runs per task."""

import os
import time

import redis
from celery import shared_task

from core.tasking import ProjectTask

RUNS_KEY = "probe:runs"
STARTED_KEY = "probe:started"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@shared_task(base=ProjectTask, name="tests.record_run")
def record_run(label: str):
    _redis().rpush(RUNS_KEY, label)


@shared_task(base=ProjectTask, name="tests.record_run_slowly")
def record_run_slowly(label: str, seconds: float):
    _redis().rpush(STARTED_KEY, label)
    time.sleep(seconds)
    _redis().rpush(RUNS_KEY, label)


@shared_task(base=ProjectTask, bind=True, name="tests.record_run_after_one_retry")
def record_run_after_one_retry(self, label: str, countdown: float):
    if not self.request.retries:
        raise self.retry(countdown=countdown)
    _redis().rpush(RUNS_KEY, label)
