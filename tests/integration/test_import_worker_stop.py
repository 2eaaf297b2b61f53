"""A worker stopped as compose stops it (SIGTERM remapped to Celery's cold shutdown) in the middle of a contact
import: once its soft shutdown ends, the pool terminates the import, wherever it is (often inside a COMMIT), and
the import goes back to its queue; the next worker finishes it with each row once."""

import signal

import pytest
from django.db import transaction

from accounts import selectors, services, tasks
from accounts.models import Contact
from core.outbox import enqueue
from tests.accounts.csv_files import contacts_csv, generated_rows, upload
from tests.factories import StaffFactory
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 50_000


def test_an_import_whose_worker_is_stopped_midway_finishes_on_the_next_worker(settings, process_logs, no_shared_worker):
    settings.MEDIA_ROOT = process_logs / "media"
    as_in_compose = {
        "queues": "bulk",
        "concurrency": 1,
        "DJANGO_MEDIA_ROOT": str(process_logs / "media"),
        "REMAP_SIGTERM": "SIGQUIT",
        # Shorter than the import, so the stop cuts it off instead of waiting for it.
        "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "1",
    }
    with transaction.atomic():
        contact_import = services.contact_import_create(
            uploaded_file=upload(contacts_csv(generated_rows(ROWS))), created_by=StaffFactory()
        )
        enqueue(tasks.import_contacts, contact_import.pk)

    # given the import under way on a worker
    worker = start_worker(process_logs, name="stopped", **as_in_compose)
    wait_until(
        lambda: selectors.contact_import_progress(contact_import=contact_import).processed > 0,
        60,
        "the import never started",
        worker,
    )

    # when the worker is stopped
    worker.signal(signal.SIGTERM)
    assert worker.process.wait(timeout=60) == 0
    worker.stop()
    stopped = selectors.contact_import_progress(contact_import=contact_import)
    assert (stopped.status, stopped.error) == ("importing", ""), worker.output()

    # then the next worker finishes it, each row once
    successor = start_worker(process_logs, name="successor", **as_in_compose)
    try:
        progress = wait_until(
            lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).finished and current,
            120,
            "the next worker did not finish the import",
            successor,
        )
    finally:
        successor.stop()
    assert (progress.status, progress.processed, progress.created, progress.updated, progress.failed) == (
        "done",
        ROWS,
        ROWS,
        0,
        0,
    )
    assert Contact.objects.count() == ROWS
