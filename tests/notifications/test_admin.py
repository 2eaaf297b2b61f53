import pytest

from notifications import services
from tests.factories import StaffFactory
from tests.notifications.factories import NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["subscriber", "newsletter", "delivery"])
def test_admin_lists_show_the_rows(client, model):
    SubscriberFactory(email="ada@example.com")
    newsletter = services.newsletter_start(newsletter=NewsletterFactory(subject="Autumn roasts"))
    services.newsletter_recipients_queue(newsletter_id=newsletter.pk)
    client.force_login(StaffFactory(is_superuser=True))

    response = client.get(f"/admin/notifications/{model}/")

    assert response.status_code == 200
    assert ("Autumn roasts" if model == "newsletter" else "ada@example.com") in response.content.decode()
