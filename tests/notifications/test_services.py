import re
import smtplib
from datetime import date
from decimal import Decimal
from urllib.parse import urlparse

import pytest
from django.core.mail.backends.smtp import EmailBackend

from core.exceptions import ProjectError
from notifications import selectors, services
from notifications.models import Delivery, Newsletter, Subscriber
from tests.factories import ProductFactory, StaffFactory
from tests.notifications.factories import NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 21)


def test_newsletter_create_keeps_a_draft_by_its_author():
    staff = StaffFactory()

    newsletter = services.newsletter_create(subject=" Autumn beans ", body="New roasts.", created_by=staff)

    assert newsletter.status == Newsletter.Status.DRAFT
    assert (newsletter.subject, newsletter.created_by) == ("Autumn beans", staff)


def test_newsletter_create_refuses_an_empty_body():
    with pytest.raises(ProjectError, match="subject and a body"):
        services.newsletter_create(subject="Hello", body="  ", created_by=None)


@pytest.mark.parametrize(
    "subject",
    ["Autumn\r\nBcc: everyone@example.com", "Autumn\nbeans", "Autumn\tbeans", "Autumn\x00beans", "Autumn\u2028beans"],
)
def test_newsletter_create_refuses_a_subject_with_line_breaks_or_control_characters(subject):
    with pytest.raises(ProjectError, match="one line without control characters"):
        services.newsletter_create(subject=subject, body="New roasts.", created_by=None)

    assert not Newsletter.objects.exists()


def test_newsletter_start_counts_only_subscribers_who_receive_mail():
    SubscriberFactory.create_batch(3)
    SubscriberFactory(opted_in_at=None)
    SubscriberFactory(unsubscribed_at="2026-01-01T00:00Z")
    newsletter = NewsletterFactory()

    started = services.newsletter_start(newsletter=newsletter)

    assert (started.status, started.total) == (Newsletter.Status.SENDING, 3)
    assert started.started_at is not None


def test_newsletter_start_refuses_a_newsletter_already_started():
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    with pytest.raises(ProjectError, match="not a draft"):
        services.newsletter_start(newsletter=newsletter)


def test_newsletter_cancel_refuses_a_sent_newsletter():
    newsletter = NewsletterFactory(status=Newsletter.Status.SENT)

    with pytest.raises(ProjectError, match="already sent"):
        services.newsletter_cancel(newsletter=newsletter)


def raw_header_lines(raw: bytes) -> list[str]:
    """The header block as it came over SMTP, unfolded (RFC 5322 2.2.3) but not decoded."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return re.sub(r"\r\n(?=[ \t])", "", head).split("\r\n")


def test_newsletter_sends_each_subscriber_one_message_with_an_unsubscribe_header(mailsink, settings):
    settings.SITE_URL = "https://shop.example.com"
    readers = SubscriberFactory.create_batch(3)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory(subject="Autumn beans"))

    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    result = services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    assert result.sent == 3
    for reader in readers:
        [message] = mailsink.to(reader.email)
        assert message["Subject"] == "Autumn beans"
        # Mail clients offer one-click unsubscribe (RFC 8058) from these raw lines, without decoding them.
        lines = raw_header_lines(message.raw)
        unsubscribe_url = services.subscriber_unsubscribe_url(subscriber=reader)
        assert f"List-Unsubscribe: <{unsubscribe_url}>" in lines
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    progress = selectors.newsletter_progress(newsletter=newsletter)
    assert (progress.status, progress.sent, progress.failed, progress.total, progress.percent) == ("sent", 3, 0, 3, 100)


def test_newsletter_batch_run_twice_sends_nothing_the_second_time(mailsink):
    reader = SubscriberFactory()
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    again = services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    assert again.sent == 0
    assert len(mailsink.to(reader.email)) == 1


def test_fan_out_twice_writes_one_delivery_per_subscriber():
    SubscriberFactory.create_batch(2)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    assert Delivery.objects.filter(newsletter=newsletter).count() == 2


def test_fan_out_splits_subscribers_into_bounded_batches():
    services.subscribers_demo_create(count=services.NEWSLETTER_BATCH_SIZE + 1)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    batches = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    assert [len(batch) for batch in batches] == [services.NEWSLETTER_BATCH_SIZE, 1]


def test_cancelled_newsletter_sends_nothing_more(mailsink):
    reader = SubscriberFactory()
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    services.newsletter_cancel(newsletter=newsletter)
    result = services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    assert (result.sent, result.cancelled) == (0, 1)
    assert mailsink.to(reader.email) == []
    assert selectors.newsletter_progress(newsletter=newsletter).status == "cancelled"


def test_subscriber_who_unsubscribed_after_fan_out_is_skipped(mailsink):
    reader = SubscriberFactory()
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    reader_token = urlparse(services.subscriber_unsubscribe_url(subscriber=reader)).path.split("/")[-2]
    services.subscriber_unsubscribe(token=reader_token)

    result = services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    assert result.skipped == 1 and mailsink.to(reader.email) == []


def test_refused_recipient_is_recorded_as_failed_and_the_rest_still_sent(mailsink, monkeypatch):
    refused, accepted = SubscriberFactory(), SubscriberFactory()
    real_send = EmailBackend.send_messages

    def refuse_one(backend, messages):
        if refused.email in messages[0].to:
            raise smtplib.SMTPRecipientsRefused({refused.email: (550, b"mailbox unavailable")})
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", refuse_one)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    failed = Delivery.objects.get(subscriber=refused)
    assert failed.status == Delivery.Status.FAILED and "mailbox unavailable" in failed.error
    assert len(mailsink.to(accepted.email)) == 1
    progress = selectors.newsletter_progress(newsletter=newsletter)
    assert (progress.status, progress.sent, progress.failed) == ("sent", 1, 1)


def test_digest_lists_the_newest_products_in_stock(mailsink):
    reader = SubscriberFactory()
    ProductFactory(name="Hand grinder", stock=3, price=Decimal("79"))
    ProductFactory(name="Sold-out kettle", stock=0)

    [batch] = services.digest_recipients_queue(day=DAY)
    services.digest_batch_send(day=DAY, subscriber_ids=batch)

    [message] = mailsink.to(reader.email)
    body = message.get_content()
    assert "  - Hand grinder: 79.00 EUR\r\n" in body and "Sold-out kettle" not in body
    assert "21 November 2026" in message["Subject"]


def test_digest_queued_twice_the_same_day_is_sent_once(mailsink):
    reader = SubscriberFactory()

    for _ in range(2):
        for batch in services.digest_recipients_queue(day=DAY):
            services.digest_batch_send(day=DAY, subscriber_ids=batch)

    assert len(mailsink.to(reader.email)) == 1


def test_unsubscribe_with_a_genuine_token_stops_mail():
    reader = SubscriberFactory()
    token = urlparse(services.subscriber_unsubscribe_url(subscriber=reader)).path.split("/")[-2]

    services.subscriber_unsubscribe(token=token)

    reader.refresh_from_db()
    assert reader.unsubscribed_at is not None
    assert not selectors.subscribers_receiving_mail().filter(pk=reader.pk).exists()


def test_unsubscribe_with_a_forged_token_changes_nothing():
    victim = SubscriberFactory()
    other = SubscriberFactory()
    token = urlparse(services.subscriber_unsubscribe_url(subscriber=other)).path.split("/")[-2]
    forged = f"{victim.pk}:{token.split(':')[1]}"

    with pytest.raises(ProjectError, match="not valid"):
        services.subscriber_unsubscribe(token=forged)

    victim.refresh_from_db()
    assert victim.unsubscribed_at is None


def test_subscribers_demo_create_tops_up_only_what_is_missing():
    assert services.subscribers_demo_create(count=5) == 5
    assert services.subscribers_demo_create(count=7) == 2
    assert Subscriber.objects.filter(opted_in_at__isnull=False).count() == 7


def test_newsletter_without_subscribers_is_sent_at_once():
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())

    batches = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    assert batches == []
    assert selectors.newsletter_progress(newsletter=newsletter).status == "sent"


def test_batch_interrupted_by_an_error_keeps_the_record_of_what_went_out(mailsink, monkeypatch):
    first, second = SubscriberFactory(), SubscriberFactory()
    real_send = EmailBackend.send_messages

    def fail_for_second(backend, messages):
        if second.email in messages[0].to:
            raise smtplib.SMTPServerDisconnected("relay restarted")
        return real_send(backend, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", fail_for_second)
    newsletter = services.newsletter_start(newsletter=NewsletterFactory())
    [batch] = services.newsletter_recipients_queue(newsletter_id=newsletter.pk)

    with pytest.raises(smtplib.SMTPServerDisconnected):
        services.newsletter_batch_send(newsletter_id=newsletter.pk, subscriber_ids=batch)

    assert Delivery.objects.get(subscriber=first).status == Delivery.Status.SENT
    assert Delivery.objects.get(subscriber=second).status == Delivery.Status.QUEUED
    assert selectors.newsletter_progress(newsletter=newsletter).status == "sending"
