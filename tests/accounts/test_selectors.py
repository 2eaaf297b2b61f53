from datetime import UTC, datetime

import pytest

from accounts import selectors, services
from accounts.models import ContactImport
from tests.accounts.csv_files import contacts_csv, generated_rows, upload
from tests.accounts.factories import ContactImportFactory

pytestmark = pytest.mark.django_db


def test_progress_reads_the_saved_counts_fresh():
    contact_import = ContactImportFactory()
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.IMPORTING, total_rows=400, processed=100, created=90, updated=5, failed_rows=5
    )

    progress = selectors.contact_import_progress(contact_import=contact_import)

    assert progress == selectors.ImportProgress(
        status="importing",
        processed=100,
        total=400,
        created=90,
        updated=5,
        failed=5,
        percent=25,
        error="",
        job_state="",
        job_note="",
        retention_note="",
    )
    assert not progress.finished


def test_progress_of_a_pending_import_is_zero_and_of_a_failed_one_carries_the_error():
    contact_import = ContactImportFactory()
    assert selectors.contact_import_progress(contact_import=contact_import).percent == 0

    services.contact_import_fail(contact_import_id=contact_import.pk, message="The file is empty.")

    progress = selectors.contact_import_progress(contact_import=contact_import)
    assert (progress.status, progress.error, progress.finished) == ("failed", "The file is empty.", True)


def test_progress_of_a_done_import_is_complete(staff):
    contact_import = services.contact_import_create(
        uploaded_file=upload(contacts_csv(generated_rows(3))), created_by=staff
    )
    services.contact_import_run(contact_import_id=contact_import.pk)

    progress = selectors.contact_import_progress(contact_import=contact_import)

    assert (progress.status, progress.processed, progress.total, progress.created, progress.percent) == (
        "done",
        3,
        3,
        3,
        100,
    )


def test_error_report_lists_bad_rows_in_order_and_defuses_formulas(staff):
    rows = [("ok@example.com", "Ok", "", ""), ("=cmd|' /C calc'!A0", "Evil", "", ""), ("x@example.com", "", "", "")]
    contact_import = services.contact_import_create(uploaded_file=upload(contacts_csv(rows)), created_by=staff)
    services.contact_import_run(contact_import_id=contact_import.pk)

    report = "".join(selectors.contact_import_errors_csv(contact_import=contact_import))

    assert report.splitlines() == [
        "row,email,message",
        "3,'=cmd|' /C calc'!A0,Email is not a valid address.",
        "4,x@example.com,Name is missing.",
    ]


def test_error_report_of_a_clean_import_is_just_the_header():
    lines = list(selectors.contact_import_errors_csv(contact_import=ContactImportFactory()))

    assert lines == ["row,email,message\r\n"]


def test_progress_of_an_import_past_its_retention_says_when_its_upload_was_deleted(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    settings.CONTACT_IMPORT_RETENTION_DAYS = 30
    contact_import = ContactImportFactory()
    ContactImport.objects.filter(pk=contact_import.pk).update(
        file="", upload_deleted_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    )

    progress = selectors.contact_import_progress(contact_import=contact_import)

    assert progress.retention_note == (
        "The uploaded file and its error report were deleted on 2026-04-01: uploads are kept for 30 days."
    )
