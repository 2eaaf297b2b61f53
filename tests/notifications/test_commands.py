import pytest
from django.core.management import call_command

from notifications.selectors import subscribers_receiving_mail

pytestmark = pytest.mark.django_db


def test_seed_demo_adds_opted_in_subscribers_once():
    call_command("seed_demo", "--password", "a-demo-password", "--customers", "1", "--subscribers", "12")
    call_command("seed_demo", "--password", "a-demo-password", "--customers", "1", "--subscribers", "12")

    assert subscribers_receiving_mail().count() == 12
