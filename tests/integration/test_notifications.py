"""Newsletters and the daily digest end to end: outbox → a real worker → fan-out group → the SMTP sink."""

from urllib.parse import urlparse

import pytest
from django.db import transaction

from core.models import Job
from core.tasking.outbox import enqueue
from notifications import selectors, services, tasks
from notifications.models import Delivery, Newsletter, Subscriber
from tests.factories import StaffFactory
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

DAY = "2026-11-21"
ENDED = [Job.State.SUCCEEDED, Job.State.FAILED, Job.State.CANCELLED]


def start_newsletter(subject: str) -> Newsletter:
    """What the staff page does: start the draft and enqueue the fan-out in one transaction."""
    draft = services.newsletter_create(subject=subject, body="Our autumn roasts are here.", created_by=StaffFactory())
    with transaction.atomic():
        newsletter = services.newsletter_start(newsletter=draft)
        enqueue(tasks.send_newsletter, newsletter.pk)
    return newsletter


def recipients(mailsink) -> list[str]:
    with mailsink.lock:
        return [str(message["To"]) for message in mailsink.messages]


def test_newsletter_to_300_subscribers_reaches_everyone_once(live_worker, mailsink):
    services.subscribers_demo_create(count=300)

    newsletter = start_newsletter("Autumn roasts")

    wait_until(
        lambda: selectors.newsletter_progress(newsletter=newsletter).status == "sent",
        60,
        "newsletter never finished",
        live_worker,
    )
    progress = selectors.newsletter_progress(newsletter=newsletter)
    assert (progress.sent, progress.failed, progress.total, progress.percent) == (300, 0, 300, 100)
    sent_to = recipients(mailsink)
    assert len(sent_to) == 300 and len(set(sent_to)) == 300


def test_cancel_mid_way_stops_the_rest(live_worker, mailsink):
    services.subscribers_demo_create(count=2_000)
    newsletter = start_newsletter("Cancelled halfway")
    wait_until(lambda: selectors.newsletter_progress(newsletter=newsletter).sent > 0, 60, "nothing sent", live_worker)

    services.newsletter_cancel(newsletter=newsletter)

    queued = Delivery.objects.filter(newsletter=newsletter, status=Delivery.Status.QUEUED)
    wait_until(lambda: not queued.exists(), 60, "batches never stopped", live_worker)
    progress = selectors.newsletter_progress(newsletter=newsletter)
    assert progress.status == "cancelled"
    assert 0 < progress.sent < 2_000 and progress.skipped == 2_000 - progress.sent and progress.failed == 0
    assert progress.percent == round(100 * progress.sent / 2_000) < 100
    assert len(recipients(mailsink)) == progress.sent
    # the batches that found it cancelled ended cancelled, as members of the newsletter's sending job
    wait_until(lambda: not Job.objects.exclude(state__in=ENDED).exists(), 60, "batch jobs still open", live_worker)
    fan_out = Job.objects.get(task_name="notifications.send_newsletter", subject_id=str(newsletter.pk))
    batches = Job.objects.filter(task_name="notifications.send_newsletter_batch")
    assert set(batches.values_list("parent", flat=True)) == {fan_out.pk}
    assert batches.filter(state=Job.State.CANCELLED, error__startswith="newsletter cancelled").exists()


def test_digest_fired_twice_reaches_each_subscriber_once(live_worker, mailsink):
    services.subscribers_demo_create(count=30)
    runs_logged = live_worker.output().count("notifications.send_daily_digest[")

    tasks.send_daily_digest.apply_async(args=[DAY])
    tasks.send_daily_digest.apply_async(args=[DAY])

    digests = Delivery.objects.filter(kind=Delivery.Kind.DIGEST, digest_day=DAY)
    wait_until(
        lambda: digests.filter(status=Delivery.Status.SENT).count() == 30, 60, "digests never all sent", live_worker
    )
    # Received and succeeded, for both runs: the second one has finished too.
    wait_until(
        lambda: live_worker.output().count("notifications.send_daily_digest[") >= runs_logged + 4,
        30,
        "second digest run never finished",
        live_worker,
    )
    sent_to = recipients(mailsink)
    assert len(sent_to) == 30 and len(set(sent_to)) == 30


def test_unsubscribe_link_from_a_received_email_works_and_a_tampered_one_does_not(client, live_worker, mailsink):
    services.subscribers_demo_create(count=2)
    tasks.send_daily_digest.apply_async(args=[DAY])
    [digest] = wait_until(lambda: mailsink.to("subscriber1@example.com"), 60, "digest never arrived", live_worker)
    link = urlparse(digest["List-Unsubscribe"].strip("<>")).path
    assert link in digest.get_content()

    other = Subscriber.objects.get(email="subscriber2@example.com")
    signature = link.rstrip("/").rsplit(":", 1)[1]
    tampered = client.post(f"/notifications/unsubscribe/{other.pk}:{signature}/")
    genuine = client.post(link)

    assert tampered.status_code == 400
    other.refresh_from_db()
    assert other.unsubscribed_at is None
    assert genuine.status_code == 200 and "You are unsubscribed" in genuine.content.decode()
    mailsink.messages.clear()
    newsletter = start_newsletter("After unsubscribing")
    wait_until(
        lambda: selectors.newsletter_progress(newsletter=newsletter).status == "sent", 60, "never sent", live_worker
    )
    assert recipients(mailsink) == ["subscriber2@example.com"]
