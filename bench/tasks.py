"""Bench-only project tasks, loaded into a project worker with `-I bench.tasks`; never part of the product."""

from celery import shared_task

from bench import probes
from core.tasking.policy import ProjectTask


@shared_task(base=ProjectTask, name="bench.record_done", queue="default", soft_time_limit=10, time_limit=20)
def record_done():
    probes.record_done()


@shared_task(
    base=ProjectTask,
    name="bench.record_done_stored",
    queue="default",
    soft_time_limit=10,
    time_limit=20,
    ignore_result=False,
)
def record_done_stored():
    probes.record_done()


@shared_task(base=ProjectTask, name="bench.record_start", queue="default", soft_time_limit=10, time_limit=20)
def record_start(sent_at: float):
    probes.record_start(sent_at)
