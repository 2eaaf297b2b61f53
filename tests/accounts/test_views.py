import pytest

from accounts.models import ContactImport, ContactImportError
from core.models import OutboxMessage
from tests.accounts.csv_files import contacts_csv, upload
from tests.accounts.factories import ContactImportFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_upload_is_stored_and_its_import_enqueued_after_commit(client, staff, django_capture_on_commit_callbacks):
    client.force_login(staff)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/imports/upload/", {"file": upload(contacts_csv([("ada@example.com", "Ada", "", "")]))})

    contact_import = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{contact_import.pk}/"
    [message] = OutboxMessage.objects.all()
    assert message.task_name == "accounts.import_contacts" and message.args == [contact_import.pk]
    assert len(callbacks) == 1


def test_a_file_that_is_not_a_csv_gets_a_clear_message_and_nothing_is_queued(client, staff):
    client.force_login(staff)

    response = client.post("/imports/upload/", {"file": upload(b"%PDF-1.7 ...", name="report.pdf")})

    assert response.status_code == 400
    assert "is not a CSV file" in response.content.decode()
    assert not ContactImport.objects.exists() and not OutboxMessage.objects.exists()


def test_the_error_report_lists_each_bad_row_and_defuses_formulas(client, staff):
    contact_import = ContactImportFactory(status=ContactImport.Status.DONE, failed_rows=1, total_rows=2, processed=2)
    ContactImportError.objects.create(
        contact_import=contact_import, row_number=3, email="=cmd()", message="Enter a valid email address."
    )
    client.force_login(staff)

    page = client.get(f"/imports/{contact_import.pk}/").content.decode()
    response = client.get(f"/imports/{contact_import.pk}/errors.csv")

    assert "Download the error report" in page and "hx-trigger" not in page
    assert response["Content-Disposition"] == f'attachment; filename="import-{contact_import.pk}-errors.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines == ["row,email,message", "3,'=cmd(),Enter a valid email address."]


def test_customers_never_reach_the_import_pages(client):
    contact_import = ContactImportFactory()
    client.force_login(UserFactory())

    assert client.get("/imports/").status_code == 404
    assert client.get(f"/imports/{contact_import.pk}/errors.csv").status_code == 404
    assert client.post("/imports/upload/", {"file": upload(b"email,name\n")}).status_code == 404
