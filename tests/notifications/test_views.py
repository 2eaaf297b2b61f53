from urllib.parse import urlparse

import pytest

from notifications import services
from tests.notifications.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def unsubscribe_path(subscriber) -> str:
    return urlparse(services.subscriber_unsubscribe_url(subscriber=subscriber)).path


def test_opening_the_link_asks_first_and_unsubscribes_no_one(client):
    reader = SubscriberFactory(email="ada@example.com")

    response = client.get(unsubscribe_path(reader))

    assert response.status_code == 200
    assert "Stop sending newsletters and the daily digest to ada@example.com?" in response.content.decode()
    reader.refresh_from_db()
    assert reader.unsubscribed_at is None


def test_confirming_unsubscribes(client):
    reader = SubscriberFactory(email="ada@example.com")

    response = client.post(unsubscribe_path(reader))

    assert "You are unsubscribed: ada@example.com" in response.content.decode()
    reader.refresh_from_db()
    assert reader.unsubscribed_at is not None


def test_mail_client_one_click_post_needs_no_csrf_token(client):
    reader = SubscriberFactory()
    strict_client = client.__class__(enforce_csrf_checks=True)

    response = strict_client.post(unsubscribe_path(reader), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.unsubscribed_at is not None


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_link_is_a_clear_400_and_changes_nothing(client, method):
    victim, attacker = SubscriberFactory(), SubscriberFactory()
    signature = unsubscribe_path(attacker).split("/")[-2].split(":")[1]

    response = getattr(client, method)(f"/notifications/unsubscribe/{victim.pk}:{signature}/")

    assert response.status_code == 400
    assert "This unsubscribe link is not valid" in response.content.decode()
    victim.refresh_from_db()
    assert victim.unsubscribed_at is None
