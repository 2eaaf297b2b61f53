import logging
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.utils import timezone

from accounts import services, tasks
from accounts.models import Contact, ContactImport
from core.models import DeadLetter
from core.tasking.locks import nonoverlapping
from tests.accounts.csv_files import contacts_csv, generated_rows
from tests.accounts.factories import ContactImportFactory

pytestmark = pytest.mark.django_db


def test_import_task_imports_the_upload(eager):
    contact_import = ContactImportFactory(file__data=contacts_csv(generated_rows(5)))

    result = tasks.import_contacts.apply(args=[contact_import.pk])

    assert result.successful()
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.created) == (ContactImport.Status.DONE, 5)


def test_import_task_run_twice_changes_nothing_the_second_time(eager):
    contact_import = ContactImportFactory(file__data=contacts_csv(generated_rows(5)))
    tasks.import_contacts.apply(args=[contact_import.pk])

    tasks.import_contacts.apply(args=[contact_import.pk])

    contact_import.refresh_from_db()
    assert (contact_import.processed, contact_import.created, contact_import.updated) == (5, 5, 0)
    assert Contact.objects.count() == 5


def test_missing_import_logs_a_warning_and_is_not_retried(eager, caplog):
    with caplog.at_level(logging.WARNING):
        result = tasks.import_contacts.apply(args=[999_999])

    assert result.successful()
    assert "accounts.import_contacts skipped, object not found" in caplog.text
    assert not DeadLetter.objects.exists()


def test_a_bad_file_fails_the_import_without_a_retry_or_dead_letter(eager):
    contact_import = ContactImportFactory(file__data=b"email\nada@example.com\n")

    result = tasks.import_contacts.apply(args=[contact_import.pk])

    assert result.successful()
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.FAILED
    assert "missing the column name" in contact_import.error
    assert not DeadLetter.objects.exists()


def test_a_database_outage_is_retried_then_dead_lettered(eager, monkeypatch):
    contact_import = ContactImportFactory()
    calls = []

    def database_down(**kwargs):
        calls.append(kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "contact_import_run", database_down)

    result = tasks.import_contacts.apply(args=[contact_import.pk])

    assert result.failed()
    assert len(calls) == 1 + tasks.import_contacts.max_retries
    letter = DeadLetter.objects.get(task_name="accounts.import_contacts")
    assert letter.args == [contact_import.pk] and "OperationalError" in letter.exception


def test_an_import_over_its_time_limit_is_failed_with_a_message_and_dead_lettered(eager, monkeypatch):
    contact_import = ContactImportFactory()

    def too_slow(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(services, "contact_import_run", too_slow)

    result = tasks.import_contacts.apply(args=[contact_import.pk])

    assert result.failed()
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.FAILED
    assert contact_import.error.startswith("The import took too long and was stopped")
    assert DeadLetter.objects.get(task_name="accounts.import_contacts").attempts == 1


def test_cleanup_task_deletes_expired_sessions(eager):
    Session.objects.create(session_key="a" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))
    Session.objects.create(session_key="b" * 32, session_data="", expire_date=timezone.now() + timedelta(days=1))

    result = tasks.cleanup_expired_sessions.apply()

    assert result.successful()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]


def test_cleanup_task_skips_while_another_run_holds_the_lock(eager):
    Session.objects.create(session_key="a" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))

    with nonoverlapping("accounts.cleanup_expired_sessions", timeout=60):
        tasks.cleanup_expired_sessions.apply()

    assert Session.objects.count() == 1


def test_retention_task_deletes_expired_uploads(eager, settings):
    expired, recent = ContactImportFactory(), ContactImportFactory()
    ContactImport.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=31))

    result = tasks.cleanup_expired_import_uploads.apply()

    assert result.successful()
    assert not expired.file.storage.exists(expired.file.name)
    assert recent.file.storage.exists(recent.file.name)
    assert list(ContactImport.objects.filter(upload_deleted_at__isnull=False).values_list("pk", flat=True)) == [
        expired.pk
    ]
