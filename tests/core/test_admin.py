"""What staff meet in the admin: names spelled right, no "Add" for rows only the system writes, and a periodic
task re-timed in its one form."""

import pytest
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(StaffFactory(is_superuser=True))
    return client


def test_the_admin_index_lists_deliveries_spelled_right(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert ">Deliveries<" in page and "Deliverys" not in page


@pytest.mark.parametrize(
    "changelist",
    [
        "/admin/core/deadletter/",
        "/admin/core/outboxmessage/",
        "/admin/core/job/",
        "/admin/django_celery_results/taskresult/",
        "/admin/django_celery_results/groupresult/",
        "/admin/notifications/delivery/",
    ],
)
def test_rows_only_the_system_writes_cannot_be_added(admin_client, changelist):
    listing = admin_client.get(changelist)
    add_form = admin_client.get(changelist + "add/")

    assert listing.status_code == 200
    assert f'href="{changelist}add/"' not in listing.content.decode()
    assert add_form.status_code == 403


def change_form_data(response) -> dict:
    """What the browser would post back from the change form as shown, before the person edits it."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = "on" if value is True else value
    return data


def test_a_periodic_task_switches_from_crontab_to_every_ten_minutes_in_one_save(admin_client):
    digest = PeriodicTask.objects.get(name="Send daily digest")  # seeded on a crontab, daily at 08:00
    url = f"/admin/django_celery_beat/periodictask/{digest.pk}/change/"
    shown = admin_client.get(url)
    assert change_form_data(shown)["cron"] == "0 8 * * *"
    every_ten_minutes = {"runs": "every", "every": "10", "every_unit": "minutes"}

    response = admin_client.post(url, change_form_data(shown) | every_ten_minutes)

    assert response.status_code == 302, response.context["adminform"].form.errors
    digest.refresh_from_db()
    assert digest.crontab is None
    assert (digest.interval.every, digest.interval.period) == (10, IntervalSchedule.MINUTES)


def test_re_timing_to_a_schedule_that_exists_twice_reuses_the_oldest(admin_client):
    # given two equal interval rows, as admin's "+" popup makes them
    first, _ = (IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES) for _ in range(2))
    digest = PeriodicTask.objects.get(name="Send daily digest")
    url = f"/admin/django_celery_beat/periodictask/{digest.pk}/change/"
    shown = admin_client.get(url)

    response = admin_client.post(
        url, change_form_data(shown) | {"runs": "every", "every": "10", "every_unit": "minutes"}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    digest.refresh_from_db()
    assert digest.interval == first


def test_a_periodic_task_switches_from_an_interval_to_a_cron_expression_in_one_save(admin_client, settings):
    task = PeriodicTask.objects.create(
        name="Often",
        task="orders.cleanup_expired_carts",
        interval=IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS),
    )
    url = f"/admin/django_celery_beat/periodictask/{task.pk}/change/"
    shown = admin_client.get(url)

    response = admin_client.post(url, change_form_data(shown) | {"runs": "cron", "cron": "30 7 * * mon-fri"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    task.refresh_from_db()
    assert task.interval is None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "7", "mon-fri")
    assert str(crontab.timezone) == settings.TIME_ZONE


def test_a_bad_cron_expression_is_refused_with_the_reason(admin_client):
    digest = PeriodicTask.objects.get(name="Send daily digest")
    url = f"/admin/django_celery_beat/periodictask/{digest.pk}/change/"
    schedules_before = CrontabSchedule.objects.count()

    response = admin_client.post(url, change_form_data(admin_client.get(url)) | {"cron": "every morning"})

    assert response.status_code == 200
    assert "Not a cron expression" in str(response.context["adminform"].form.errors["cron"])
    digest.refresh_from_db()
    assert (digest.crontab.hour, digest.crontab.minute) == ("8", "0")
    assert CrontabSchedule.objects.count() == schedules_before


def test_a_new_periodic_task_is_added_with_its_schedule_in_the_same_form(admin_client):
    shown = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    new_task = {
        "name": "Hourly carts",
        "regtask": "orders.cleanup_expired_carts",
        "args": "[]",
        "kwargs": "{}",
        "headers": "{}",
        "runs": "every",
        "every": "1",
        "every_unit": "hours",
    }

    response = admin_client.post("/admin/django_celery_beat/periodictask/add/", change_form_data(shown) | new_task)

    assert response.status_code == 302, response.context["adminform"].form.errors
    task = PeriodicTask.objects.get(name="Hourly carts")
    assert task.task == "orders.cleanup_expired_carts" and task.crontab is None
    assert (task.interval.every, task.interval.period) == (1, IntervalSchedule.HOURS)
