import logging
import smtplib

import pytest
from django.core.mail.backends.smtp import EmailBackend

from core.models import DeadLetter
from notifications import services, tasks
from notifications.models import Delivery, Newsletter
from tests.notifications.factories import NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

DAY = "2026-11-21"


class SmtpRecorder:
    """Counts messages handed to the real SMTP backend and runs each hook with the count before sending."""

    def __init__(self):
        self.count = 0
        self.hooks = []

    def before_send(self, hook):
        self.hooks.append(hook)


@pytest.fixture
def smtp_sends(monkeypatch):
    recorder = SmtpRecorder()
    real_send = EmailBackend.send_messages

    def send_messages(backend, messages):
        recorder.count += 1
        for hook in recorder.hooks:
            hook(recorder.count)
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)
    return recorder


def test_retried_batch_resends_nothing_already_sent(eager, mailsink, smtp_sends):
    readers = SubscriberFactory.create_batch(4)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    def drop_third_message_once(count):
        if count == 3:
            raise smtplib.SMTPServerDisconnected("relay restarted")

    smtp_sends.before_send(drop_third_message_once)

    tasks.send_newsletter.apply(args=[newsletter.pk])

    for reader in readers:
        assert len(mailsink.to(reader.email)) == 1
    assert Delivery.objects.filter(newsletter=newsletter, status=Delivery.Status.SENT).count() == 4
    newsletter.refresh_from_db()
    assert newsletter.status == Newsletter.Status.SENT


def test_digest_fired_twice_sends_one_email_per_subscriber(eager, mailsink):
    readers = SubscriberFactory.create_batch(3)

    tasks.send_daily_digest.apply(args=[DAY])
    tasks.send_daily_digest.apply(args=[DAY])

    assert [len(mailsink.to(reader.email)) for reader in readers] == [1, 1, 1]


def test_digest_without_a_day_is_for_today_in_the_project_time_zone(eager, mailsink):
    from django.utils import timezone

    reader = SubscriberFactory()

    tasks.send_daily_digest.apply()

    assert Delivery.objects.get(subscriber=reader).digest_day == timezone.localdate()
    assert len(mailsink.to(reader.email)) == 1


def test_cancel_stops_the_batches_not_yet_sent(eager, mailsink, smtp_sends, monkeypatch):
    monkeypatch.setattr(services, "NEWSLETTER_BATCH_SIZE", 2)
    monkeypatch.setattr(services, "CANCEL_CHECK_EVERY", 1)
    readers = SubscriberFactory.create_batch(6)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    def cancel_during_second_batch(count):
        if count == 3:
            services.newsletter_cancel(newsletter=newsletter)

    smtp_sends.before_send(cancel_during_second_batch)

    tasks.send_newsletter.apply(args=[newsletter.pk])

    # the message in flight when the cancel came still goes out
    assert sum(len(mailsink.to(reader.email)) for reader in readers) == 3
    deliveries = Delivery.objects.filter(newsletter=newsletter)
    assert deliveries.filter(status=Delivery.Status.CANCELLED).count() == 3
    newsletter.refresh_from_db()
    assert newsletter.status == Newsletter.Status.CANCELLED


def test_missing_newsletter_logs_a_warning_and_is_not_retried(eager, caplog):
    with caplog.at_level(logging.WARNING):
        result = tasks.send_newsletter.apply(args=[999_999])

    assert result.successful()
    assert "notifications.send_newsletter skipped, object not found" in caplog.text
    assert not DeadLetter.objects.exists()


def test_mail_server_down_retries_then_dead_letters_the_batch(eager, smtp_sends, monkeypatch):
    SubscriberFactory()
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    def refuse_connection(backend):
        raise ConnectionRefusedError("relay down")

    monkeypatch.setattr(EmailBackend, "open", refuse_connection)

    result = tasks.send_newsletter_batch.apply(args=[newsletter.pk, batch])

    assert result.failed()
    letter = DeadLetter.objects.get(task_name="notifications.send_newsletter_batch")
    assert letter.args == [newsletter.pk, batch]
    assert letter.attempts == 1 + tasks.send_newsletter_batch.max_retries
    assert Delivery.objects.get(newsletter=newsletter).status == Delivery.Status.QUEUED
