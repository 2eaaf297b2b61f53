import pytest

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
