"""factory_boy factories for notifications."""

import factory
from django.utils import timezone

from notifications.models import Newsletter, Subscriber


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    opted_in_at = factory.LazyFunction(timezone.now)


class NewsletterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Newsletter

    subject = factory.Sequence(lambda n: f"Newsletter {n}")
    body = "Fresh beans arrived this week."
