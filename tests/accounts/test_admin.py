import pytest

from accounts import services
from tests.accounts.csv_files import contacts_csv, upload

pytestmark = pytest.mark.django_db


def test_operator_sees_an_import_with_its_row_errors_in_admin(admin_client, admin_user):
    rows = [("ada@example.com", "Ada", "", ""), ("broken", "Bad", "", "")]
    contact_import = services.contact_import_create(uploaded_file=upload(contacts_csv(rows)), created_by=admin_user)
    services.contact_import_run(contact_import_id=contact_import.pk)

    listing = admin_client.get("/admin/accounts/contactimport/").content.decode()
    page = admin_client.get(f"/admin/accounts/contactimport/{contact_import.pk}/change/").content.decode()

    assert "contacts.csv" in listing
    assert "Email is not a valid address." in page
    assert "ada@example.com" in admin_client.get("/admin/accounts/contact/?q=ada").content.decode()
