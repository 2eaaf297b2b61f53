"""Job rows through real worker processes: each state a task passes through is written by the task base class,
and the pages read those rows, not django-celery-results nor the outbox."""

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts import services as account_services
from accounts import tasks as account_tasks
from core.models import Job
from core.tasking.outbox import enqueue
from core.tasking.policy import ProjectTask
from finance import tasks as finance_tasks
from myproject.celery import app
from notifications import services as notification_services
from notifications import tasks as notification_tasks
from orders import tasks as order_tasks
from tests.accounts.csv_files import contacts_csv, generated_rows, upload
from tests.factories import OrderFactory, ProductFactory, StaffFactory
from tests.finance.factories import PaidChargeFactory
from tests.support.feeds import FeedServer
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ENDED = [Job.State.SUCCEEDED, Job.State.FAILED, Job.State.CANCELLED]
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
# Celery calls the pipeline's error callback inline, in the failing step's worker: it is never a message of
# its own, so it has no job.
NEVER_ENQUEUED = {"orders.record_pipeline_failure"}


@pytest.fixture
def worker_media(settings, process_logs):
    """Store uploads where the live worker reads them."""
    settings.MEDIA_ROOT = process_logs / "media"


@pytest.fixture
def feed():
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def job_reaches(task_id: str, state: str, worker, timeout: float = 60) -> Job:
    return wait_until(
        lambda: Job.objects.filter(pk=task_id, state=state).first(), timeout, f"job never {state}", worker
    )


def all_jobs_ended(worker, timeout: float = 90) -> None:
    wait_until(lambda: not Job.objects.exclude(state__in=ENDED).exists(), timeout, "jobs still open", worker)


def operations_row(client, task_name: str) -> str:
    page = client.get("/operations/live/").content.decode()
    assert f'id="task-{task_name}"' in page, f"{task_name} not listed on Operations"
    return page.split(f'id="task-{task_name}"', 1)[1].split("</tr>", 1)[0]


def test_a_job_waits_queued_without_a_worker_then_runs_and_succeeds(
    staff_client, no_shared_worker, process_logs, mailsink
):
    # given an invoice click while no worker runs
    order = OrderFactory()
    staff_client.post(f"/orders/{order.pk}/send-invoice/")
    [job] = Job.objects.all()
    waiting = staff_client.get(f"/orders/{order.pk}/jobs/").content.decode()

    # when a worker starts
    worker = start_worker(process_logs, name="late")
    try:
        done = job_reaches(job.pk, Job.State.SUCCEEDED, worker)
    finally:
        worker.stop()

    # then the job was queued with its subject, and one attempt on that worker finished it
    assert job.state == Job.State.QUEUED and (job.subject_type, job.subject_id) == ("orders.order", str(order.pk))
    assert 'id="job-invoice" data-state="queued"' in waiting and "waiting for a worker" in waiting
    assert done.attempt == 1 and done.worker.startswith("late@") and done.started_at <= done.finished_at
    assert 'id="job-invoice" data-state="done"' in staff_client.get(f"/orders/{order.pk}/jobs/").content.decode()


def test_a_running_job_shows_its_worker_and_a_failed_one_its_error(staff_client, live_worker, feed):
    # given a feed that holds its answer, then one that is not XML
    feed.hold()
    with transaction.atomic():
        held = enqueue(finance_tasks.sync_exchange_rates, url=feed.url)

    # when a worker runs the sync against each
    running = job_reaches(held, Job.State.RUNNING, live_worker)
    while_running = operations_row(staff_client, "finance.sync_exchange_rates")
    feed.release()
    job_reaches(held, Job.State.SUCCEEDED, live_worker)
    feed.serve(b"this is not XML")
    with transaction.atomic():
        rejected = enqueue(finance_tasks.sync_exchange_rates, url=feed.url)
    failed = job_reaches(rejected, Job.State.FAILED, live_worker)

    # then Operations shows the sync running on its worker, then failed with the reason, and counts both runs
    assert running.worker.startswith("worker@") and running.worker in while_running
    assert 'data-state="running"' in while_running
    assert failed.error.startswith("ProjectError: Exchange-rate feed rejected: not XML")
    after = operations_row(staff_client, "finance.sync_exchange_rates")
    assert 'data-state="failed"' in after and "Exchange-rate feed rejected: not XML" in after
    assert "1 succeeded" in after and "1 failed" in after


def test_a_revoked_task_is_cancelled(live_worker):
    # given a cleanup the worker holds for its countdown
    result = order_tasks.cleanup_expired_carts.apply_async(countdown=3)
    queued = Job.objects.get(pk=result.id)
    wait_until(lambda: f"[{result.id}]" in live_worker.output(), 30, "worker never received it", live_worker)

    # when an operator revokes it (Flower's button does this)
    app.control.revoke(result.id)

    # then its job ends cancelled instead of running
    cancelled = job_reaches(result.id, Job.State.CANCELLED, live_worker)
    assert queued.state == Job.State.QUEUED and cancelled.error == "revoked" and cancelled.started_at is None


def test_pipeline_steps_are_jobs_of_the_pipeline_job(staff_client, live_worker, mailsink):
    order = OrderFactory(items=[(ProductFactory(stock=5), 1)])

    staff_client.post(f"/orders/{order.pk}/run-pipeline/")

    all_jobs_ended(live_worker)
    pipeline = Job.objects.get(task_name="orders.start_pipeline")
    steps = {step.task_name: step for step in pipeline.children.all()}
    assert set(steps) == {
        "orders.validate_order",
        "orders.charge_order",
        "orders.send_order_confirmation",
        "orders.update_inventory",
    }
    assert all(step.state == Job.State.SUCCEEDED and step.subject_id == str(order.pk) for step in steps.values())
    page = staff_client.get(f"/orders/{order.pk}/jobs/").content.decode()
    assert 'id="job-pipeline" data-state="done"' in page and page.count('class="step done"') == 4


def test_operations_lists_every_task_kind_that_ran(staff_client, live_worker, mailsink, worker_media, feed):
    # given every kind of task run once by a real worker, as clicks, beat and fan-outs start them
    order = OrderFactory(items=[(ProductFactory(stock=5), 1)])
    staff_client.post(f"/orders/{order.pk}/send-invoice/")
    staff_client.post(f"/orders/{order.pk}/run-pipeline/")
    notification_services.subscribers_demo_create(count=3)
    staff_client.post("/newsletters/send/", {"subject": "Every kind", "body": "One of each."})
    with transaction.atomic():
        contact_import = account_services.contact_import_create(
            uploaded_file=upload(contacts_csv(generated_rows(5))), created_by=StaffFactory()
        )
        enqueue(account_tasks.import_contacts, contact_import.pk)
    feed.serve(b"this is not XML")
    finance_tasks.sync_exchange_rates.delay(url=feed.url)  # a failed sync is listed too
    PaidChargeFactory(succeeded_at=timezone.now() - timedelta(days=1))
    finance_tasks.daily_revenue_report.delay()
    notification_tasks.send_daily_digest.delay()
    order_tasks.cleanup_expired_carts.delay()
    account_tasks.cleanup_expired_sessions.delay()
    account_tasks.cleanup_expired_import_uploads.delay()
    staff_client.post("/orders/export/")  # written against django.tasks: its jobs are named by its path
    # Every kind a person starts: the project's Celery tasks, but for the runners that carry django.tasks tasks
    # (each job of theirs is listed under the django task's own name), and the django.tasks tasks.
    registered = {
        name
        for name, task in app.tasks.items()
        if isinstance(task, ProjectTask) and not getattr(task, "runs_django_task", False)
    } | {order_tasks.export_orders_csv.module_path}

    # when they have all ended
    wait_until(
        lambda: registered - NEVER_ENQUEUED <= set(Job.objects.values_list("task_name", flat=True)),
        90,
        "some kind never ran",
        live_worker,
    )
    all_jobs_ended(live_worker)

    # then Operations has a row for each kind, with its latest state
    assert len(registered) == 20
    for task_name in registered - NEVER_ENQUEUED:
        row = operations_row(staff_client, task_name)
        expected = "failed" if task_name == "finance.sync_exchange_rates" else "succeeded"
        assert f'data-state="{expected}"' in row, f"{task_name}: {row}"


def test_the_pages_show_the_same_states_without_any_task_result(
    staff_client, live_worker, mailsink, worker_media, feed
):
    # given an invoice, a pipeline, a newsletter, an import and a failed sync, all ended on a real worker
    order = OrderFactory(items=[(ProductFactory(stock=5), 1)])
    staff_client.post(f"/orders/{order.pk}/send-invoice/")
    staff_client.post(f"/orders/{order.pk}/run-pipeline/")
    notification_services.subscribers_demo_create(count=3)
    staff_client.post("/newsletters/send/", {"subject": "Results gone", "body": "Still sent."})
    with transaction.atomic():
        contact_import = account_services.contact_import_create(
            uploaded_file=upload(contacts_csv(generated_rows(5))), created_by=StaffFactory()
        )
        enqueue(account_tasks.import_contacts, contact_import.pk)
    feed.serve(b"this is not XML")
    with transaction.atomic():
        enqueue(finance_tasks.sync_exchange_rates, url=feed.url)
    wait_until(lambda: Job.objects.count() >= 10, 60, "fan-outs never ran", live_worker)
    all_jobs_ended(live_worker)
    newsletter_id = Job.objects.get(task_name="notifications.send_newsletter").subject_id
    pages = {
        "order": f"/orders/{order.pk}/jobs/",
        "newsletter": f"/newsletters/{newsletter_id}/progress/",
        "import": f"/imports/{contact_import.pk}/progress/",
        "operations": "/operations/live/",
    }

    def read_pages() -> dict[str, str]:
        # without the forms' CSRF tokens, which Django masks afresh on every response
        read = {name: CSRF_TOKEN.sub("", staff_client.get(url).content.decode()) for name, url in pages.items()}
        read["operations"] = read["operations"].split('id="recent-tasks"', 1)[1]  # not the queue depths
        return read

    before = read_pages()

    # when django-celery-results loses every row
    stored, _ = TaskResult.objects.all().delete()

    # then every page reads as it did, with the states the jobs ended in
    assert stored > 0  # the tasks that keep results for admin and Flower did write some
    assert read_pages() == before
    assert (
        'id="job-invoice" data-state="done"' in before["order"]
        and 'id="job-pipeline" data-state="done"' in before["order"]
    )
    assert 'data-status="sent"' in before["newsletter"] and ">3 sent<" in before["newsletter"]
    assert 'data-status="done"' in before["import"]
    sync = before["operations"].split('id="task-finance.sync_exchange_rates"', 1)[1].split("</tr>", 1)[0]
    assert 'data-state="failed"' in sync and "not XML" in sync
