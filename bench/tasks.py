"""Bench-only project tasks, loaded into a project worker with `-I bench.tasks`; never part of the product."""

from celery import shared_task

from bench import probes, realistic
from core.tasking.policy import ProjectTask


@shared_task(base=ProjectTask, name="bench.record_done", queue="default", soft_time_limit=10, time_limit=20)
def record_done():
    probes.record_done()


class ProjectTaskWithoutJobRows(ProjectTask):
    """Diagnosis only: the project's task base without its job rows (running, then succeeded), to price them;
    its worker's main process acknowledges each task, since no pool process records an end to acknowledge after."""

    end_recorded_in_batches = False

    def before_start(self, task_id, args, kwargs):
        pass

    def on_success(self, retval, task_id, args, kwargs):
        pass


@shared_task(
    base=ProjectTaskWithoutJobRows,
    name="bench.record_done_without_job_rows",
    queue="default",
    soft_time_limit=10,
    time_limit=20,
)
def record_done_without_job_rows():
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


@shared_task(base=ProjectTask, name="bench.counter_touch", queue="default", soft_time_limit=10, time_limit=20)
def counter_touch(counter_id: int):
    realistic.counter_touch(counter_id)
