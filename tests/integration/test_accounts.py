"""Contact imports and session cleanup end to end: upload → outbox → a real worker process → the database."""

import os
import signal
import subprocess
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts import selectors, services, tasks
from accounts.models import Contact
from core.tasking.outbox import enqueue
from tests.accounts.csv_files import contacts_csv, generated_rows, upload
from tests.accounts.factories import ContactFactory
from tests.factories import StaffFactory
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_media(settings, process_logs):
    """Store uploads where the live worker reads them."""
    settings.MEDIA_ROOT = process_logs / "media"


def test_a_20000_row_upload_is_imported_by_a_real_worker(live_worker, worker_media):
    ContactFactory(email="person42@example.com", name="Old Name")
    rows = generated_rows(20_000)
    rows[99] = ("not-an-email", "Bad Email", "", "")
    rows[9_999] = ("noname@example.com", "", "", "")
    rows[19_999] = ("", "No Email", "", "")
    with transaction.atomic():
        contact_import = services.contact_import_create(
            uploaded_file=upload(contacts_csv(rows)), created_by=StaffFactory()
        )
        enqueue(tasks.import_contacts, contact_import.pk)

    progress = wait_until(
        lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).finished and current,
        120,
        "contact import never finished",
        live_worker,
    )

    assert (progress.status, progress.error) == ("done", "")
    assert (progress.total, progress.processed, progress.failed, progress.percent) == (20_000, 20_000, 3, 100)
    assert (progress.created, progress.updated) == (19_996, 1)
    assert Contact.objects.count() == 19_997
    assert Contact.objects.get(email="person42@example.com").name == "Person 42"
    report = "".join(selectors.contact_import_errors_csv(contact_import=contact_import)).splitlines()
    assert report == [
        "row,email,message",
        "101,not-an-email,Email is not a valid address.",
        "10001,noname@example.com,Name is missing.",
        "20001,,Email is missing.",
    ]


def test_a_file_bad_past_the_upload_check_fails_on_the_worker_and_changes_nothing(live_worker, worker_media):
    content = contacts_csv(generated_rows(5_000)) + "zoe@example.com,Zoë\n".encode("latin-1")
    with transaction.atomic():
        contact_import = services.contact_import_create(uploaded_file=upload(content), created_by=StaffFactory())
        enqueue(tasks.import_contacts, contact_import.pk)

    progress = wait_until(
        lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).finished and current,
        60,
        "contact import never finished",
        live_worker,
    )

    assert progress.status == "failed"
    assert progress.error.startswith("The file is not UTF-8 text (line 5002 cannot be read)")
    assert not Contact.objects.exists()


def test_an_import_whose_worker_process_is_killed_resumes_and_counts_each_row_once(live_worker, worker_media):
    total = 30_000
    with transaction.atomic():
        contact_import = services.contact_import_create(
            uploaded_file=upload(contacts_csv(generated_rows(total))), created_by=StaffFactory()
        )
        enqueue(tasks.import_contacts, contact_import.pk)
    running = wait_until(
        lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).processed and current,
        60,
        "contact import never started",
        live_worker,
    )
    assert running.processed < total

    # when: the pool processes die mid-import, as under the OOM killer
    for child in subprocess.run(["pgrep", "-P", str(live_worker.pid)], capture_output=True, text=True).stdout.split():
        os.kill(int(child), signal.SIGKILL)

    progress = wait_until(
        lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).finished and current,
        120,
        "contact import never finished after the crash",
        live_worker,
    )
    assert (progress.status, progress.processed, progress.created, progress.updated) == ("done", total, total, 0)
    assert Contact.objects.count() == total
    assert "WorkerLostError" in live_worker.output()


def test_expired_sessions_are_cleaned_up_by_a_real_worker(live_worker):
    now = timezone.now()
    Session.objects.bulk_create(
        Session(session_key=f"expired{n:032d}", session_data="", expire_date=now - timedelta(hours=1))
        for n in range(50)
    )
    Session.objects.create(session_key="live" * 8, session_data="", expire_date=now + timedelta(days=14))

    with transaction.atomic():
        enqueue(tasks.cleanup_expired_sessions)

    wait_until(lambda: Session.objects.count() == 1, 60, "expired sessions were not deleted", live_worker)
    assert Session.objects.get().session_key == "live" * 8
