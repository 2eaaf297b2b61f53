"""What an operator does in the browser: read the operations page, and reschedule a periodic task in admin
while beat keeps running."""

import pytest
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.models import DeadLetter
from tests.browser.conftest import sign_in_on
from tests.browser.screenshots import SCREENSHOTS
from tests.factories import StaffFactory
from tests.support.processes import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_see_workers_queues_and_beat_on_the_operations_page(page, sign_in, live_worker, live_beat):
    sign_in(StaffFactory(is_superuser=True))

    page.click("text=Operations")

    page.wait_for_selector("#queue-email")
    page.wait_for_selector("#beat .state.done")  # polled: turns green once beat's first heartbeat lands
    assert page.locator("#workers li").count() >= 1
    assert page.locator("a", has_text="Flower").count() >= 1
    page.screenshot(path=SCREENSHOTS / "operations.png", full_page=True)


def test_a_failed_task_keeps_its_retry_button_and_every_column_in_view_on_a_laptop_and_a_phone(browser, web_server):
    # given a task that gave up with a long error, part of it one unbroken token, as SMTP servers answer
    DeadLetter.objects.create(
        task_id="long-error",
        task_name="orders.send_invoice_email",
        queue="email",
        args=[3],
        exception="SMTPRecipientsRefused: " + "mailbox-unavailable-" * 12 + " the server said no " * 8,
        attempts=6,
    )
    staff = StaffFactory(is_superuser=True)

    for width, height in ((1280, 860), (390, 844)):
        context = browser.new_context(base_url=web_server, viewport={"width": width, "height": height})
        page = context.new_page()
        sign_in_on(page, staff)

        page.goto("/operations/")

        # then Retry and each column of the row are on screen, without scrolling sideways
        row = page.locator("#dead-letters tbody tr").first
        for cell in (row.locator("button", has_text="Retry"), *[row.locator("td").nth(n) for n in range(6)]):
            box = cell.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, cell.inner_text()[:40], box)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=SCREENSHOTS / f"operations-failed-task-{width}.png", full_page=True)
        context.close()


def test_a_schedule_changed_in_admin_is_fired_by_the_running_beat(page, sign_in, live_worker, live_beat):
    nightly = CrontabSchedule.objects.create(minute="0", hour="4")
    task = PeriodicTask.objects.create(
        name="Expire stored task results", task="celery.backend_cleanup", crontab=nightly
    )
    sign_in(StaffFactory(is_superuser=True))

    # From a crontab to an interval in the one form: no popup for a new schedule, no crontab to clear.
    page.goto(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    page.check("input[name=runs][value=every]")
    page.fill("#id_every", "5")
    page.select_option("#id_every_unit", "seconds")
    page.screenshot(path=SCREENSHOTS / "admin-periodic-tasks.png", full_page=True)
    page.click("input[name=_save]")
    # saved: back on the list of periodic tasks; otherwise say what the form or the server answered
    try:
        page.wait_for_url("**/periodictask/")
    except PlaywrightTimeoutError:
        raise AssertionError(f"not saved: {page.url}\n{page.locator('body').inner_text()[:2000]}") from None
    rescheduled = PeriodicTask.objects.get(pk=task.pk)
    assert rescheduled.crontab is None
    assert (rescheduled.interval.every, rescheduled.interval.period) == (5, IntervalSchedule.SECONDS)

    wait_until(
        lambda: PeriodicTask.objects.get(pk=task.pk).total_run_count >= 2,
        60,
        "beat never fired the rescheduled task",
        live_beat,
    )
    assert "Sending due task Expire stored task results (celery.backend_cleanup)" in live_beat.output()


def test_every_staff_page_renders_under_the_content_security_policy(page, sign_in):
    # given a staff member; the page fixture fails the test on any CSP refusal in the console
    sign_in(StaffFactory(is_superuser=True))

    for link in ("Orders", "Operations", "Newsletters", "Imports", "Admin"):
        page.click(f"nav >> text={link}")
        page.wait_for_load_state("load")

    page.goto("/admin/django_celery_beat/periodictask/add/")
    page.wait_for_selector("#id_runs")  # the project's schedule form, which needs no inline script
