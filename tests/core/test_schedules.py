"""Periodic tasks are defined once in code and seeded into django-celery-beat, where admin edits stick."""

import pytest
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from core.tasking.schedules import SEEDED_MARK, periodic_tasks_sync
from myproject.schedules import PERIODIC_TASKS
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_migrate_seeds_every_periodic_task_from_code():
    seeded = {task.name: task for task in PeriodicTask.objects.filter(description=SEEDED_MARK)}

    assert set(seeded) == set(PERIODIC_TASKS)
    digest = seeded["Send daily digest"]
    assert digest.task == "notifications.send_daily_digest" and digest.enabled
    assert (digest.crontab.hour, digest.crontab.minute) == ("8", "0")


def test_every_seeded_task_is_registered_with_celery():
    from django.utils.module_loading import autodiscover_modules

    from myproject.celery import app

    autodiscover_modules("tasks")

    assert {entry["task"] for entry in PERIODIC_TASKS.values()} <= set(app.tasks)


def test_an_admin_edit_survives_the_next_sync():
    digest = PeriodicTask.objects.get(name="Send daily digest")
    digest.crontab = CrontabSchedule.objects.create(minute="30", hour="9")
    digest.enabled = False
    digest.save()

    periodic_tasks_sync()

    digest.refresh_from_db()
    assert (digest.crontab.hour, digest.crontab.minute, digest.enabled) == ("9", "30", False)


def test_a_schedule_removed_from_code_stops_firing(monkeypatch):
    monkeypatch.delitem(PERIODIC_TASKS, "Sync exchange rates")
    admin_made = PeriodicTask.objects.create(
        name="Made in admin", task="orders.cleanup_expired_carts", crontab=CrontabSchedule.objects.first()
    )

    result = periodic_tasks_sync()

    assert result["removed"] == ["Sync exchange rates"]
    assert not PeriodicTask.objects.filter(name="Sync exchange rates").exists()
    assert PeriodicTask.objects.filter(pk=admin_made.pk).exists()


def test_the_seeded_schedules_appear_in_admin(client):
    client.force_login(StaffFactory(is_superuser=True))

    page = client.get("/admin/django_celery_beat/periodictask/").content.decode()

    for name in PERIODIC_TASKS:
        assert name in page
