"""Seeds django-celery-beat's tables from the periodic tasks defined in code, found by settings.PERIODIC_TASKS.

A missing row is created; an existing row is left as admin edited it; a row seeded earlier whose entry
was removed from code is deleted, so it cannot keep firing. Seeded rows are marked by their description."""

from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_celery_beat.models import CrontabSchedule, PeriodicTask

SEEDED_MARK = "Seeded from myproject/schedules.py"


@transaction.atomic
def periodic_tasks_sync() -> dict[str, list[str]]:
    periodic_tasks = import_string(settings.PERIODIC_TASKS)
    created, removed = [], []
    for name, entry in periodic_tasks.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        crontab = crontab_schedule_for(entry["schedule"])
        PeriodicTask.objects.create(name=name, task=entry["task"], crontab=crontab, description=SEEDED_MARK)
        created.append(name)
    stale = PeriodicTask.objects.filter(description=SEEDED_MARK).exclude(name__in=periodic_tasks)
    removed = list(stale.values_list("name", flat=True))
    stale.delete()
    return {"created": created, "removed": removed}


def crontab_schedule_for(schedule: crontab) -> CrontabSchedule:
    """The beat row for a Celery crontab, in the project's time zone; rows are shared, so an equal one is reused."""
    return shared_schedule_row(
        CrontabSchedule,
        minute=schedule._orig_minute,
        hour=schedule._orig_hour,
        day_of_week=schedule._orig_day_of_week,
        day_of_month=schedule._orig_day_of_month,
        month_of_year=schedule._orig_month_of_year,
        timezone=settings.TIME_ZONE,
    )


def shared_schedule_row(model, **fields):
    """The oldest equal schedule row, or a new one. Not get_or_create: the library's tables have no unique
    constraint, and admin's "+" popup happily makes duplicates, which get_or_create refuses with an error."""
    return model.objects.filter(**fields).order_by("pk").first() or model.objects.create(**fields)


def crontab_from_expression(expression: str) -> crontab:
    """A Celery crontab from the five fields of a cron line ("minute hour day-of-month month day-of-week");
    ValueError for anything else."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has five fields: minute hour day-of-month month day-of-week")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    # Celery parses each field when the schedule is built, so a bad one fails here rather than in beat.
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year, day_of_week=day_of_week
    )
