import pytest

from core.models import Job, OutboxMessage
from core.tasking import jobs
from notifications import services, tasks
from notifications.models import Newsletter
from notifications.selectors import SEND_NEWSLETTER_TASK
from tests.factories import StaffFactory, UserFactory
from tests.notifications.factories import NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_sending_a_newsletter_starts_it_and_enqueues_it_after_commit(client, django_capture_on_commit_callbacks):
    SubscriberFactory.create_batch(3)
    client.force_login(StaffFactory())

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/newsletters/send/", {"subject": "Autumn beans", "body": "Fresh roast."}, follow=True)

    newsletter = Newsletter.objects.get()
    assert newsletter.status == Newsletter.Status.SENDING and newsletter.total == 3
    [message] = OutboxMessage.objects.all()
    assert message.task_name == "notifications.send_newsletter" and message.args == [newsletter.pk]
    assert len(callbacks) == 1
    page = response.content.decode()
    figures = page.split('id="progress-figures">', 1)[1].split("</p>", 1)[0]
    assert ">0 sent<" in figures and ">0 skipped<" in figures and ">0 failed<" in figures and "3 total" in figures
    assert "Waiting for a worker." in page and 'hx-trigger="every 1s"' in page


def test_a_newsletter_without_a_subject_is_refused_and_keeps_the_text(client):
    client.force_login(StaffFactory())

    response = client.post("/newsletters/send/", {"subject": " ", "body": "Keep me."})

    assert response.status_code == 400
    page = response.content.decode()
    assert "needs a subject and a body" in page and "Keep me." in page
    assert not Newsletter.objects.exists() and not OutboxMessage.objects.exists()


def test_a_subject_with_a_line_break_is_refused_on_the_form_and_nothing_is_sent(client):
    SubscriberFactory.create_batch(2)
    client.force_login(StaffFactory())

    response = client.post("/newsletters/send/", {"subject": "Autumn\r\nBcc: x@example.com", "body": "Keep me."})

    assert response.status_code == 400
    page = response.content.decode()
    assert "one line without control characters" in page and "Keep me." in page
    assert not Newsletter.objects.exists() and not OutboxMessage.objects.exists()


def test_cancel_stops_a_sending_newsletter_and_the_page_stops_polling(client):
    newsletter = NewsletterFactory(status=Newsletter.Status.SENDING)
    client.force_login(StaffFactory())

    response = client.post(f"/newsletters/{newsletter.pk}/cancel/", follow=True)

    newsletter.refresh_from_db()
    assert newsletter.status == Newsletter.Status.CANCELLED
    assert "cancelled" in response.content.decode() and "hx-trigger" not in response.content.decode()


def test_customers_never_reach_the_newsletter_pages(client):
    newsletter = NewsletterFactory()
    client.force_login(UserFactory())

    assert client.get("/newsletters/").status_code == 404
    assert client.post("/newsletters/send/", {"subject": "x", "body": "y"}).status_code == 404
    assert client.post(f"/newsletters/{newsletter.pk}/cancel/").status_code == 404
    assert not OutboxMessage.objects.exists()


def test_a_cancelled_newsletter_shows_what_was_sent_and_what_was_skipped(client, mailsink):
    # given a newsletter to three subscribers, one of whom got it before staff cancelled
    first, *rest = SubscriberFactory.create_batch(3)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=[first.pk])
    client.force_login(StaffFactory())

    client.post(f"/newsletters/{newsletter.pk}/cancel/")
    at_once = client.get(f"/newsletters/{newsletter.pk}/progress/").content.decode()
    # the batch still queued runs later and finds the newsletter cancelled
    services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=[subscriber.pk for subscriber in rest])
    later = client.get(f"/newsletters/{newsletter.pk}/progress/").content.decode()

    # then the page says what went out and what never will, and the bar stays where the sending stopped
    for page in (at_once, later):
        assert "Cancelled: 1 sent, 2 skipped." in page
        assert 'aria-valuenow="33"' in page and ">33 %<" in page
        assert "hx-trigger" not in page


def test_a_sending_newsletter_says_when_a_batch_failed(client):
    # given a newsletter whose fan-out handed out two batches, one of which gave up
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    jobs.job_queued(task_id="fan-out", task_name=SEND_NEWSLETTER_TASK, args=[newsletter.pk], kwargs={})
    jobs.job_succeeded(task_id="fan-out")
    for batch in ("batch-1", "batch-2"):
        jobs.job_published(
            sender="notifications.send_newsletter_batch",
            headers={"id": batch, "root_id": "fan-out", "retries": 0},
            body=([newsletter.pk, [1]], {}, {}),
        )
    jobs.job_finished(task_id="batch-2", state=Job.State.FAILED, error="SMTPDataError: (554, b'rejected')")
    client.force_login(StaffFactory())

    page = client.get(f"/newsletters/{newsletter.pk}/progress/").content.decode()

    assert "1 batch(es) failed: SMTPDataError: (554, b&#x27;rejected&#x27;)" in page


def test_the_page_follows_the_fan_out_task_by_its_registered_name():
    assert tasks.send_newsletter.name == SEND_NEWSLETTER_TASK
