import pytest

from accounts import tasks
from accounts.models import ContactImport, ContactImportError
from accounts.selectors import IMPORT_TASK
from core.models import Job, OutboxMessage
from core.tasking import jobs
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


def test_an_import_whose_job_gave_up_says_why_and_stops_polling(client, staff):
    # given an uploaded import, its job waiting, then failing with an error its import row never saw
    client.force_login(staff)
    client.post("/imports/upload/", {"file": upload(contacts_csv([("ada@example.com", "Ada", "", "")]))})
    contact_import = ContactImport.objects.get()
    task_id = str(OutboxMessage.objects.get().pk)
    waiting = client.get(f"/imports/{contact_import.pk}/progress/").content.decode()
    jobs.job_finished(task_id=task_id, state=Job.State.FAILED, error="FileNotFoundError: upload missing")

    gave_up = client.get(f"/imports/{contact_import.pk}/progress/").content.decode()

    assert "Waiting for a worker." in waiting and "hx-trigger" in waiting
    assert "The import job failed: FileNotFoundError: upload missing" in gave_up and "hx-trigger" not in gave_up


def test_the_page_follows_the_import_task_by_its_registered_name():
    assert tasks.import_contacts.name == IMPORT_TASK
