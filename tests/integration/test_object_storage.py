"""Files between web and a real worker through an S3-protocol bucket (moto's server on loopback), with no disk
shared: the worker's media folder is one of its own, which must stay empty, as must this (web) process's."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services, tasks
from accounts.models import ContactImport
from core.tasking.outbox import enqueue
from orders.models import Invoice
from tests.accounts.csv_files import contacts_csv, upload
from tests.factories import OrderFactory, StaffFactory
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def module_bucket(object_storage_server):
    return object_storage_server.bucket()


@pytest.fixture(scope="module")
def worker_media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-media")


@pytest.fixture(scope="module")
def s3_worker(django_db_setup, process_logs, module_bucket, worker_media):
    """A worker on every queue that stores files in the bucket, with a media folder no other process uses."""
    worker = start_worker(process_logs, name="worker-s3", DJANGO_MEDIA_ROOT=str(worker_media), **module_bucket.env())
    yield worker
    worker.stop()


@pytest.fixture
def bucket(module_bucket, s3_worker, settings, worker_media):
    """This process (web) on the worker's bucket, empty; afterwards, no file was written to either media folder."""
    settings.STORAGES = module_bucket.storages()
    yield module_bucket
    module_bucket.empty()
    assert list(Path(settings.MEDIA_ROOT).rglob("*")) == []
    assert list(worker_media.rglob("*")) == []


def test_an_invoice_pdf_the_worker_stored_in_the_bucket_is_served_to_staff_alone(client, mailsink, bucket, s3_worker):
    order = OrderFactory()
    client.force_login(StaffFactory())

    client.post(reverse("orders:send_invoice", args=[order.pk]))
    invoice = wait_until(
        lambda: Invoice.objects.filter(order=order, sent_at__isnull=False).first(), 60, "invoice never sent", s3_worker
    )

    stored = bucket.read(invoice.pdf.name)
    assert bucket.keys("invoices/") == [invoice.pdf.name]
    assert stored.startswith(b"%PDF-")
    assert bucket.public_grants(invoice.pdf.name) == []
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert f'href="/orders/{order.pk}/invoice.pdf"' in page
    download = client.get(f"/orders/{order.pk}/invoice.pdf")
    assert (download.status_code, download["Content-Type"]) == (200, "application/pdf")
    assert b"".join(download.streaming_content) == stored
    # the customer whose order it is (they got it by email) and a visitor who is not signed in
    client.force_login(order.customer.user)
    assert client.get(f"/orders/{order.pk}/invoice.pdf").status_code == 404
    assert 'id="invoice-pdf"' not in client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    client.logout()
    assert client.get(f"/orders/{order.pk}/invoice.pdf")["Location"].startswith("/login/")


def test_a_contact_csv_uploaded_to_web_is_imported_by_the_worker_from_the_bucket(client, bucket, s3_worker):
    client.force_login(StaffFactory())
    csv = contacts_csv([("ada@example.com", "Ada", "", ""), ("not-an-email", "Bob", "", "")])

    upload_response = client.post(reverse("imports:upload"), {"file": upload(csv)})
    contact_import = ContactImport.objects.get()
    progress = wait_until(
        lambda: (current := selectors.contact_import_progress(contact_import=contact_import)).finished and current,
        60,
        "contact import never finished",
        s3_worker,
    )

    assert upload_response["Location"] == f"/imports/{contact_import.pk}/"
    assert bucket.keys("contact_imports/") == [contact_import.file.name]
    assert bucket.read(contact_import.file.name) == csv
    assert (progress.status, progress.created, progress.failed) == ("done", 1, 1)
    report = client.get(f"/imports/{contact_import.pk}/errors.csv")
    assert b"".join(report.streaming_content).decode().splitlines() == [
        "row,email,message",
        "3,not-an-email,Email is not a valid address.",
    ]
    client.force_login(OrderFactory().customer.user)
    assert client.get(f"/imports/{contact_import.pk}/errors.csv").status_code == 404
    client.logout()
    assert client.get(f"/imports/{contact_import.pk}/errors.csv")["Location"].startswith("/login/")


def test_the_retention_task_deletes_expired_uploads_from_the_bucket_and_the_page_says_so(
    client, settings, bucket, s3_worker
):
    settings.CONTACT_IMPORT_RETENTION_DAYS = 30  # the worker's default
    staff = StaffFactory()
    expired, recent = (
        services.contact_import_create(
            uploaded_file=upload(contacts_csv([("not-an-email", "Bob", "", "")])), created_by=staff
        )
        for _ in range(2)
    )
    for contact_import in (expired, recent):
        services.contact_import_run(contact_import_id=contact_import.pk)
    ContactImport.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=31))

    with transaction.atomic():
        enqueue(tasks.cleanup_expired_import_uploads)
    wait_until(
        lambda: ContactImport.objects.filter(pk=expired.pk, upload_deleted_at__isnull=False).exists(),
        60,
        "the expired upload was never deleted",
        s3_worker,
    )

    assert bucket.keys("contact_imports/") == [recent.file.name]
    assert not ContactImport.objects.get(pk=expired.pk).errors.exists()
    assert ContactImport.objects.get(pk=recent.pk).errors.count() == 1
    client.force_login(staff)
    page = client.get(f"/imports/{expired.pk}/").content.decode()
    assert "The uploaded file and its error report were deleted on" in page
    assert "uploads are kept for 30 days" in page
    assert client.get(f"/imports/{expired.pk}/errors.csv").status_code == 404
