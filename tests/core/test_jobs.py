from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Job
from core.tasking import jobs
from orders import tasks
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_a_chain_published_at_once_gets_a_queued_job_for_every_step_under_its_starter():
    # given the pipeline's job, as the outbox wrote it
    order = OrderFactory()
    jobs.job_queued(task_id="pipeline-1", task_name="orders.start_pipeline", args=[order.pk], kwargs={})
    steps = [tasks.validate_order.si(order.pk), tasks.update_inventory.si(order.pk)]
    first, second = (step.freeze(root_id="pipeline-1").id for step in steps)

    # when it publishes the chain: the first step's message carries the second
    jobs.job_published(
        sender="orders.validate_order",
        headers={"id": first, "root_id": "pipeline-1", "retries": 0},
        body=([order.pk], {}, {"chain": [dict(steps[1])]}),
    )

    # then both steps are queued jobs about the order, children of the pipeline's job
    recorded = {job.pk: job for job in Job.objects.filter(parent_id="pipeline-1")}
    assert set(recorded) == {first, second}
    assert {(job.state, job.subject_type, job.subject_id) for job in recorded.values()} == {
        (Job.State.QUEUED, "orders.order", str(order.pk))
    }


def test_messages_recorded_elsewhere_and_celerys_own_tasks_get_no_second_row():
    jobs.job_published(sender="celery.chord_unlock", headers={"id": "u-1", "retries": 0}, body=([], {}, {}))
    jobs.job_published(
        sender="orders.cleanup_expired_carts", headers={"id": "c-1", jobs.RECORDED_HEADER: True}, body=([], {}, {})
    )

    assert not Job.objects.exists()


def test_jobs_untouched_for_a_week_are_forgotten():
    jobs.job_queued(task_id="old", task_name="orders.cleanup_expired_carts", args=[], kwargs={})
    jobs.job_queued(task_id="new", task_name="orders.cleanup_expired_carts", args=[], kwargs={})
    Job.objects.filter(pk="old").update(updated_at=timezone.now() - jobs.RETENTION - timedelta(minutes=1))

    assert jobs.jobs_purge() == 1
    assert list(Job.objects.values_list("pk", flat=True)) == ["new"]


def test_a_task_that_reports_its_work_cancelled_ends_cancelled_with_the_reason(eager):
    # eager: the task logic alone; the real worker's run is in tests/integration/test_notifications.py
    from notifications import services
    from notifications.tasks import send_newsletter_batch
    from tests.notifications.factories import NewsletterFactory, SubscriberFactory

    subscriber = SubscriberFactory()
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    services.newsletter_cancel(newsletter=newsletter)

    result = send_newsletter_batch.apply(args=[newsletter.pk, [subscriber.pk]])

    job = Job.objects.get(pk=result.id)
    assert job.state == Job.State.CANCELLED and job.error == "newsletter cancelled, 1 of this batch not sent"
