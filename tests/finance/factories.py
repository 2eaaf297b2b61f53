"""factory_boy factories for finance."""

import factory
from django.utils import timezone

from finance.models import Charge
from tests.factories import OrderFactory


class PaidChargeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Charge

    order = factory.SubFactory(OrderFactory)
    status = Charge.Status.SUCCEEDED
    amount = factory.LazyAttribute(lambda charge: charge.order.total)
    currency = "EUR"
    gateway_reference = factory.Sequence(lambda n: f"sim_test_{n}")
    attempts = 1
    succeeded_at = factory.LazyFunction(timezone.now)
