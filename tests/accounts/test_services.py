from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.utils import timezone

from accounts import services
from accounts.models import Contact, ContactImport, ContactImportError
from core.exceptions import ProjectError
from tests.accounts.csv_files import contacts_csv, generated_rows, upload
from tests.accounts.factories import ContactFactory, ContactImportFactory

pytestmark = pytest.mark.django_db


def imported(content: bytes, staff) -> ContactImport:
    contact_import = services.contact_import_create(uploaded_file=upload(content), created_by=staff)
    return services.contact_import_run(contact_import_id=contact_import.pk)


def test_good_file_is_stored_then_imported_with_counts(staff):
    content = contacts_csv(generated_rows(25))

    contact_import = services.contact_import_create(uploaded_file=upload(content, "May leads.csv"), created_by=staff)

    assert contact_import.status == ContactImport.Status.PENDING
    assert contact_import.original_name == "May leads.csv"
    assert contact_import.file.read() == content
    assert not Contact.objects.exists()

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert result.status == ContactImport.Status.DONE
    assert (result.total_rows, result.processed, result.created, result.updated, result.failed_rows) == (
        25,
        25,
        25,
        0,
        0,
    )
    contact = Contact.objects.get(email="person7@example.com")
    assert (contact.name, contact.company, contact.phone) == ("Person 7", "Company 7", "+49 30 0000007")


def test_reimporting_a_file_updates_instead_of_duplicating(staff):
    imported(contacts_csv(generated_rows(10)), staff)
    rows = generated_rows(12)
    rows[3] = ("PERSON3@example.com", "Person Three", "New Company", "")

    second = imported(contacts_csv(rows), staff)

    assert (second.created, second.updated, second.failed_rows) == (2, 10, 0)
    assert Contact.objects.count() == 12
    assert Contact.objects.get(email="person3@example.com").company == "New Company"


def test_import_keeps_the_first_import_time_and_columns_in_any_order(staff):
    old = ContactFactory(email="ada@example.com", name="Ada")
    Contact.objects.filter(pk=old.pk).update(imported_at=timezone.now() - timedelta(days=30))

    result = imported(contacts_csv([("Ada Lovelace", " Ada@Example.com ")], header=(" Name", "EMAIL")), staff)

    assert (result.created, result.updated) == (0, 1)
    contact = Contact.objects.get()
    assert contact.name == "Ada Lovelace"
    assert contact.imported_at < timezone.now() - timedelta(days=29)


def test_invalid_rows_are_reported_and_the_rest_imported(staff):
    rows = [
        ("good@example.com", "Good", "", ""),
        ("not-an-email", "Bad Email", "", ""),
        ("noname@example.com", "", "", ""),
        ("", "No Email", "", ""),
        ("long@example.com", "x" * 201, "", ""),
        ("=HYPERLINK(1)", "Formula", "", ""),
        ("also-good@example.com", "Also Good", "", ""),
    ]

    result = imported(contacts_csv(rows), staff)

    assert result.status == ContactImport.Status.DONE
    assert (result.processed, result.created, result.failed_rows) == (7, 2, 5)
    assert set(Contact.objects.values_list("email", flat=True)) == {"good@example.com", "also-good@example.com"}
    assert list(result.errors.values_list("row_number", "email", "message")) == [
        (3, "not-an-email", "Email is not a valid address."),
        (4, "noname@example.com", "Name is missing."),
        (5, "", "Email is missing."),
        (6, "long@example.com", "Name is longer than 200 characters."),
        (7, "=HYPERLINK(1)", "Email is not a valid address."),
    ]


def test_a_repeated_email_in_one_file_is_imported_once_with_the_last_values(staff):
    rows = [("dup@example.com", "First", "", ""), ("dup@example.com", "Second", "", "")]

    result = imported(contacts_csv(rows), staff)

    assert (result.created, result.updated, result.failed_rows) == (1, 1, 0)
    assert Contact.objects.get().name == "Second"


def test_batches_commit_progress_and_a_rerun_resumes_after_the_last_one(staff, monkeypatch):
    monkeypatch.setattr(services, "CONTACT_IMPORT_BATCH_SIZE", 4)
    contact_import = services.contact_import_create(
        uploaded_file=upload(contacts_csv(generated_rows(10))), created_by=staff
    )
    # given: a worker died after committing the first two batches of 4 rows
    Contact.objects.bulk_create([Contact(email=e, name=n) for e, n, _, _ in generated_rows(8)])
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.IMPORTING, total_rows=10, processed=8, created=8
    )

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert (result.status, result.processed, result.created, result.updated) == (ContactImport.Status.DONE, 10, 10, 0)
    assert Contact.objects.count() == 10


def test_a_crash_mid_import_keeps_committed_batches_and_the_rerun_counts_each_row_once(staff, monkeypatch):
    monkeypatch.setattr(services, "CONTACT_IMPORT_BATCH_SIZE", 4)
    contact_import = services.contact_import_create(
        uploaded_file=upload(contacts_csv(generated_rows(10))), created_by=staff
    )
    import_batch = services._import_batch
    batches = []

    def database_drops_on_third_batch(*args, **kwargs):
        batches.append(1)
        if len(batches) == 3:
            raise OperationalError("server closed the connection unexpectedly")
        return import_batch(*args, **kwargs)

    monkeypatch.setattr(services, "_import_batch", database_drops_on_third_batch)
    with pytest.raises(OperationalError):
        services.contact_import_run(contact_import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.processed, Contact.objects.count()) == ("importing", 8, 8)

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert (result.status, result.processed, result.created, result.updated) == (ContactImport.Status.DONE, 10, 10, 0)
    assert Contact.objects.count() == 10


def test_two_runs_at_once_commit_each_batch_once(staff, monkeypatch):
    monkeypatch.setattr(services, "CONTACT_IMPORT_BATCH_SIZE", 4)
    contact_import = services.contact_import_create(
        uploaded_file=upload(contacts_csv(generated_rows(10))), created_by=staff
    )
    import_batch = services._import_batch
    duplicate = []

    def duplicate_delivery_runs_first(*args, **kwargs):
        if not duplicate:
            duplicate.append("running")
            duplicate.append(services.contact_import_run(contact_import_id=contact_import.pk))
        return import_batch(*args, **kwargs)

    monkeypatch.setattr(services, "_import_batch", duplicate_delivery_runs_first)

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert duplicate[1].status == ContactImport.Status.DONE
    assert (result.status, result.processed, result.created, result.updated) == (ContactImport.Status.DONE, 10, 10, 0)
    assert Contact.objects.count() == 10


def test_a_finished_import_is_left_alone(staff):
    result = imported(contacts_csv(generated_rows(3)), staff)
    Contact.objects.all().delete()

    again = services.contact_import_run(contact_import_id=result.pk)

    assert (again.status, again.created) == (ContactImport.Status.DONE, 3)
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "contacts.csv", "The file is empty."),
        (b"\n\n  \n", "contacts.csv", "The file is empty."),
        ("email,name\nmüller@example.com,Jörg Müller\n".encode("latin-1"), "contacts.csv", "not UTF-8 text"),
        (b"email,company\nada@example.com,ACME\n", "contacts.csv", "missing the column name."),
        (b"mail;fullname\nada@example.com;Ada\n", "contacts.csv", "missing the columns email, name."),
        (b"email,name\n", "contacts.csv", "has a header but no contacts"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "contacts.csv", "not a CSV file: it contains binary data"),
        (b"email,name\nada@example.com,Ada\n", "contacts.xlsx", "“contacts.xlsx” is not a CSV file"),
    ],
)
def test_bad_files_are_refused_at_upload_and_change_nothing(staff, content, name, message):
    with pytest.raises(ProjectError, match=message):
        services.contact_import_create(uploaded_file=upload(content, name), created_by=staff)

    assert not ContactImport.objects.exists()
    assert not Contact.objects.exists()


def test_an_oversized_file_is_refused_with_the_limit(staff, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 2_000_000

    with pytest.raises(ProjectError, match=r"The file is 2\.5 MB; the limit is 2 MB"):
        services.contact_import_create(uploaded_file=upload(contacts_csv(generated_rows(40_000))), created_by=staff)

    assert not ContactImport.objects.exists()


def test_a_file_undecodable_past_the_upload_check_fails_the_import_and_changes_nothing(staff):
    content = contacts_csv(generated_rows(3_000)) + "late@example.com,Zoë Straße\n".encode("latin-1")
    assert len(content) > services.UPLOAD_CHECK_BYTES
    contact_import = services.contact_import_create(uploaded_file=upload(content), created_by=staff)

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert result.status == ContactImport.Status.FAILED
    assert result.error.startswith("The file is not UTF-8 text (line 3002 cannot be read)")
    assert not Contact.objects.exists()
    assert result.processed == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'email,name\nada@example.com,Ada\n"bob@example.com,Bob"by\n', "This is not a valid CSV file: line 3:"),
        (
            b"email,name\nada@example.com,Ada\nbob@example.com,B\x00b\n",
            "This is not a CSV file: line 3 contains binary data.",
        ),
        (
            b"email,name\nada@example.com,Ada\nbob@example.com,B\xc3",
            "The file is not UTF-8 text (line 3 ends mid-character)",
        ),
    ],
)
def test_a_malformed_stored_file_fails_the_import_and_changes_nothing(content, message):
    contact_import = ContactImportFactory(file__data=content)

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert result.status == ContactImport.Status.FAILED
    assert result.error.startswith(message)
    assert not Contact.objects.exists()


def test_a_stored_file_that_vanished_fails_the_import(staff):
    contact_import = ContactImportFactory()
    contact_import.file.storage.delete(contact_import.file.name)

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert (result.status, result.error) == (
        ContactImport.Status.FAILED,
        "The uploaded file is no longer stored; upload it again.",
    )


def test_expired_sessions_are_deleted_in_batches_and_live_ones_kept(monkeypatch):
    monkeypatch.setattr(services, "SESSION_CLEANUP_BATCH_SIZE", 3)
    live = SessionStore()
    live["user"] = 1
    live.create()
    Session.objects.bulk_create(
        Session(session_key=f"expired{n:032d}", session_data="", expire_date=timezone.now() - timedelta(minutes=1))
        for n in range(7)
    )

    deleted = services.expired_sessions_delete()

    assert deleted == 7
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]


@pytest.fixture(params=["media folder", "S3 bucket"])
def stored_in(request, settings):
    """Each retention test runs on both storages: `make run`'s media folder and a bucket on moto's S3 server."""
    if request.param == "S3 bucket":
        return request.getfixturevalue("s3_bucket")
    return None


def stored_names(bucket) -> list[str]:
    if bucket is not None:
        return bucket.keys()
    from django.conf import settings

    return sorted(str(path.relative_to(settings.MEDIA_ROOT)) for path in settings.MEDIA_ROOT.rglob("*.csv"))


def expired_import(staff, *, days_ago: int) -> ContactImport:
    contact_import = imported(contacts_csv([("ada@example.com", "Ada", "", ""), ("bad", "Bob", "", "")]), staff)
    ContactImport.objects.filter(pk=contact_import.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return contact_import


def test_uploads_past_the_retention_are_deleted_in_batches_and_their_imports_say_when(
    staff, stored_in, settings, monkeypatch
):
    settings.CONTACT_IMPORT_RETENTION_DAYS = 30
    monkeypatch.setattr(services, "UPLOAD_RETENTION_BATCH_SIZE", 2)
    monkeypatch.setattr(services, "IMPORT_ERRORS_DELETE_BATCH_SIZE", 1)
    expired = [expired_import(staff, days_ago=days) for days in (31, 45, 400)]
    kept = expired_import(staff, days_ago=29)
    assert len(stored_names(stored_in)) == 4

    deleted = services.expired_import_uploads_delete()

    assert deleted == 3
    assert stored_names(stored_in) == [kept.file.name]
    for contact_import in ContactImport.objects.filter(pk__in=[each.pk for each in expired]):
        assert (contact_import.file.name, contact_import.upload_deleted_at is not None) == ("", True)
        assert (contact_import.status, contact_import.processed, contact_import.failed_rows) == ("done", 2, 1)
    assert list(ContactImportError.objects.values_list("contact_import", flat=True)) == [kept.pk]
    assert ContactImport.objects.get(pk=kept.pk).upload_deleted_at is None
    assert services.expired_import_uploads_delete() == 0


def test_an_upload_already_gone_from_storage_is_marked_deleted(staff, stored_in):
    # as after a run stopped between deleting the file and marking the row
    contact_import = expired_import(staff, days_ago=31)
    contact_import.file.storage.delete(contact_import.file.name)

    assert services.expired_import_uploads_delete() == 1
    assert ContactImport.objects.get(pk=contact_import.pk).upload_deleted_at is not None


def test_an_import_whose_upload_was_deleted_fails_if_it_ever_runs(staff):
    contact_import = ContactImportFactory()
    ContactImport.objects.filter(pk=contact_import.pk).update(created_at=timezone.now() - timedelta(days=31))
    services.expired_import_uploads_delete()

    result = services.contact_import_run(contact_import_id=contact_import.pk)

    assert (result.status, result.error) == (ContactImport.Status.FAILED, services.GONE)
