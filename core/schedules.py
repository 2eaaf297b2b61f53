"""Seeds django-celery-beat's tables from myproject.schedules.PERIODIC_TASKS.

A missing row is created; an existing row is left as admin edited it; a row seeded earlier whose entry
was removed from code is deleted, so it cannot keep firing. Seeded rows are marked by their description."""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from myproject.schedules import PERIODIC_TASKS

SEEDED_MARK = "Seeded from myproject/schedules.py"


@transaction.atomic
def periodic_tasks_sync() -> dict[str, list[str]]:
    created, removed = [], []
    for name, entry in PERIODIC_TASKS.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        schedule = entry["schedule"]
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=schedule._orig_minute,
            hour=schedule._orig_hour,
            day_of_week=schedule._orig_day_of_week,
            day_of_month=schedule._orig_day_of_month,
            month_of_year=schedule._orig_month_of_year,
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.create(name=name, task=entry["task"], crontab=crontab, description=SEEDED_MARK)
        created.append(name)
    stale = PeriodicTask.objects.filter(description=SEEDED_MARK).exclude(name__in=PERIODIC_TASKS)
    removed = list(stale.values_list("name", flat=True))
    stale.delete()
    return {"created": created, "removed": removed}
