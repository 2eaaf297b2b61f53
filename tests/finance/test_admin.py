from decimal import Decimal

import pytest
from django.utils import timezone

from finance.models import RevenueReport
from tests.factories import StaffFactory
from tests.finance.factories import PaidChargeFactory

pytestmark = pytest.mark.django_db


def test_staff_see_charges_in_admin_but_cannot_edit_them(client):
    charge = PaidChargeFactory()
    client.force_login(StaffFactory(is_superuser=True))

    listing = client.get("/admin/finance/charge/")
    detail = client.get(f"/admin/finance/charge/{charge.pk}/change/")

    assert listing.status_code == 200 and charge.gateway_reference in listing.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()


def test_staff_see_charge_amounts_and_revenue_with_cents_and_currency(client):
    PaidChargeFactory()  # 2 × 10.00 + 1 × 5.50
    RevenueReport.objects.create(date=timezone.localdate(), paid_orders=3, revenue=Decimal("51"))
    client.force_login(StaffFactory(is_superuser=True))

    charges = client.get("/admin/finance/charge/").content.decode()
    reports = client.get("/admin/finance/revenuereport/").content.decode()

    assert '<td class="field-shown_amount">25.50 EUR</td>' in charges
    assert '<td class="field-shown_revenue">51.00 EUR</td>' in reports
