"""Writes and business rules for contacts, their CSV imports, the retention of their uploads and expired
sessions."""

import codecs
import csv
import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Contact, ContactImport, ContactImportError
from core.exceptions import ProjectError

logger = logging.getLogger(__name__)

# Rows per committed batch (parse, validate, one existence query, one INSERT … ON CONFLICT, one progress
# UPDATE). Measured on PostgreSQL 16, 2 shared cores under load: 110–310 ms a batch, 50,000 rows in 6–9 s.
# 250 was no faster overall; 4,000 held each transaction for up to a second and moved progress in big jumps.
CONTACT_IMPORT_BATCH_SIZE = 1_000
# Expired sessions deleted per statement. Measured on PostgreSQL 16, 2 shared cores under load: about 100 ms
# per 1,000 rows (50,000 in 4.9 s), so each delete holds its locks for ~200 ms and never blocks logins long.
SESSION_CLEANUP_BATCH_SIZE = 2_000
# Expired imports read per query; each then costs one storage DELETE and two short statements. Measured with the
# embedded PostgreSQL 18 on the 2-core machine (load ~1), 300 imports: 0.8 ms each on the media folder, 4.3 ms on
# moto's S3 server on loopback. A remote bucket adds its round trip (tens of ms): a batch takes seconds, and a run
# stopped by its time limit keeps what it deleted, so the next night's run goes on from there.
UPLOAD_RETENTION_BATCH_SIZE = 100
# An expired import's error rows deleted per statement (a 150,000-row file can leave that many). Measured on the
# same machine: 56 ms per 5,000 rows, 150,000 in 1.7 s, so no statement holds its locks long.
IMPORT_ERRORS_DELETE_BATCH_SIZE = 5_000

CONTACT_COLUMNS = ("email", "name", "company", "phone")
REQUIRED_COLUMNS = ("email", "name")
FIELD_MAX_LENGTHS = {"email": 254, "name": 200, "company": 200, "phone": 40}
# The upload check reads this much: enough for the header and the first rows, cheap in the request.
UPLOAD_CHECK_BYTES = 64 * 1024
# UTF-8, with or without the byte-order mark spreadsheet programs write.
FILE_ENCODING = "utf-8-sig"
GONE = "The uploaded file is no longer stored; upload it again."
NOT_UTF8 = "The file is not UTF-8 text ({where}). Save it as “CSV UTF-8” and upload it again."


@transaction.atomic
def contact_import_create(*, uploaded_file: UploadedFile, created_by: AbstractBaseUser) -> ContactImport:
    """Check the upload's size, encoding and header, then store it as a pending import.

    Raises ProjectError with a message for the user when the file cannot be a contact list; the caller
    enqueues accounts.import_contacts in the same transaction."""
    name = uploaded_file.name or "contacts.csv"
    if not name.lower().endswith((".csv", ".txt")):
        raise ProjectError(f"“{name}” is not a CSV file: upload a .csv file with the columns email, name.")
    if uploaded_file.size == 0:
        raise ProjectError("The file is empty.")
    if uploaded_file.size > settings.CONTACT_IMPORT_MAX_BYTES:
        raise ProjectError(
            f"The file is {uploaded_file.size / 1_000_000:.1f} MB; the limit is "
            f"{settings.CONTACT_IMPORT_MAX_BYTES / 1_000_000:.0f} MB. Split it and upload the parts."
        )
    uploaded_file.seek(0)
    head = uploaded_file.read(UPLOAD_CHECK_BYTES)
    uploaded_file.seek(0)
    _check_start(head, whole_file=uploaded_file.size <= UPLOAD_CHECK_BYTES)
    return ContactImport.objects.create(file=uploaded_file, original_name=name[-255:], created_by=created_by)


def contact_import_run(*, contact_import_id: int) -> ContactImport:
    """Validate the whole stored file, then upsert its rows by email, one committed batch at a time.

    A bad file fails the import before the first write, so it changes nothing. Progress is saved with each
    batch, so running again (a redelivery after a crash) resumes after the last committed batch; two runs at
    once commit each batch once, and a finished import is left alone."""
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    if contact_import.is_finished:
        logger.info("%s already finished, nothing to do", contact_import)
        return contact_import
    if contact_import.status == ContactImport.Status.PENDING:
        _update(contact_import, status=ContactImport.Status.VALIDATING, started_at=timezone.now())
    try:
        columns, total_rows = _validated_shape(contact_import)
    except ProjectError as exc:
        return contact_import_fail(contact_import_id=contact_import.pk, message=str(exc))
    _update(contact_import, status=ContactImport.Status.IMPORTING, total_rows=total_rows)
    offset = contact_import.processed
    with contact_import.file.open("rb") as binary:
        rows = islice(_data_rows(binary), offset, None)
        while batch := list(islice(rows, CONTACT_IMPORT_BATCH_SIZE)):
            if not _import_batch(contact_import, batch, columns, offset=offset):
                logger.info("%s is further along in another run; this run stops", contact_import)
                contact_import.refresh_from_db()
                return contact_import
            offset += len(batch)
    _update(contact_import, status=ContactImport.Status.DONE, finished_at=timezone.now())
    contact_import.refresh_from_db()
    logger.info(
        "%s: %s created, %s updated, %s failed rows",
        contact_import,
        contact_import.created,
        contact_import.updated,
        contact_import.failed_rows,
    )
    return contact_import


def contact_import_fail(*, contact_import_id: int, message: str) -> ContactImport:
    """Mark the import failed with a message for the user; batches already committed stay."""
    contact_import = ContactImport.objects.get(pk=contact_import_id)
    _update(contact_import, status=ContactImport.Status.FAILED, error=message, finished_at=timezone.now())
    logger.warning("%s failed: %s", contact_import, message)
    return contact_import


def expired_import_uploads_delete() -> int:
    """Delete the stored file and the error report of every import uploaded more than
    CONTACT_IMPORT_RETENTION_DAYS ago; returns how many imports. Their rows stay, with their figures and the time
    of the deletion, so their pages say what happened. The file goes first and the row is marked last, so a run
    stopped anywhere leaves work the next run finishes, and a finished one leaves nothing to do."""
    cutoff = timezone.now() - timedelta(days=settings.CONTACT_IMPORT_RETENTION_DAYS)
    expired = ContactImport.objects.filter(created_at__lt=cutoff, upload_deleted_at__isnull=True).order_by("pk")
    deleted = 0
    while batch := list(expired[:UPLOAD_RETENTION_BATCH_SIZE]):
        for contact_import in batch:
            _upload_delete(contact_import)
        deleted += len(batch)
    logger.info("deleted the uploads of %s imports older than %s days", deleted, settings.CONTACT_IMPORT_RETENTION_DAYS)
    return deleted


def _upload_delete(contact_import: ContactImport) -> None:
    if contact_import.file:
        # Whatever the storage (a folder or a bucket); a file already gone is no error.
        contact_import.file.storage.delete(contact_import.file.name)
    errors = ContactImportError.objects.filter(contact_import=contact_import)
    while ids := list(errors.values_list("pk", flat=True)[:IMPORT_ERRORS_DELETE_BATCH_SIZE]):
        ContactImportError.objects.filter(pk__in=ids).delete()
    ContactImport.objects.filter(pk=contact_import.pk).update(file="", upload_deleted_at=timezone.now())


def expired_sessions_delete() -> int:
    """Delete expired Django sessions in bounded batches, each its own short statement; returns the count."""
    deleted = 0
    while keys := list(
        Session.objects.filter(expire_date__lt=timezone.now()).values_list("session_key", flat=True)[
            :SESSION_CLEANUP_BATCH_SIZE
        ]
    ):
        deleted += Session.objects.filter(session_key__in=keys).delete()[0]
    logger.info("deleted %s expired sessions", deleted)
    return deleted


def _check_start(head: bytes, *, whole_file: bool) -> None:
    """Refuse a file whose first bytes are not a UTF-8 CSV with the contact columns and at least one row."""
    if not head.strip():
        raise ProjectError("The file is empty.")
    if b"\x00" in head:
        raise ProjectError("This is not a CSV file: it contains binary data.")
    try:
        text = codecs.getincrementaldecoder(FILE_ENCODING)().decode(head, final=whole_file)
    except UnicodeDecodeError as exc:
        raise ProjectError(NOT_UTF8.format(where=f"byte {exc.start + 1} cannot be read")) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        _columns(next(reader))
        has_rows = any(row for row in reader)
    except csv.Error as exc:
        raise ProjectError(f"This is not a valid CSV file: {exc}.") from None
    if whole_file and not has_rows:
        raise ProjectError("The file has a header but no contacts.")


def _columns(header: list[str]) -> dict[str, int]:
    positions = {}
    for position, column in enumerate(header):
        positions.setdefault(column.strip().lower(), position)
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        raise ProjectError(
            f"The file is missing the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            f"The first row must name the columns: {', '.join(CONTACT_COLUMNS)} (company and phone are optional)."
        )
    return {column: positions[column] for column in CONTACT_COLUMNS if column in positions}


def _validated_shape(contact_import: ContactImport) -> tuple[dict[str, int], int]:
    """Stream the whole file once: its columns and number of contact rows, or ProjectError before any write."""
    if not contact_import.file:
        raise ProjectError(GONE)
    try:
        binary = contact_import.file.open("rb")
    except FileNotFoundError:
        raise ProjectError(GONE) from None
    with binary:
        reader = _csv_reader(binary)
        try:
            columns = _columns(next(reader, []))
            total_rows = sum(1 for row in reader if row)
        except csv.Error as exc:
            raise ProjectError(f"This is not a valid CSV file: line {reader.line_num}: {exc}.") from None
    if total_rows == 0:
        raise ProjectError("The file has a header but no contacts.")
    return columns, total_rows


def _data_rows(binary) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of each non-blank row after the header; the header is row 1."""
    reader = _csv_reader(binary)
    next(reader)
    for row_number, row in enumerate(reader, start=2):
        if row:
            yield row_number, row


def _csv_reader(binary):
    # Strict: a stray quote is an error to report, not a row silently glued to the next ones.
    return csv.reader(_text_lines(binary), strict=True)


def _text_lines(binary) -> Iterator[str]:
    """Decode line by line, so memory stays bounded and a bad byte is reported with its line."""
    decoder = codecs.getincrementaldecoder(FILE_ENCODING)()
    line_number = 0
    for line_number, line in enumerate(binary, start=1):
        try:
            text = decoder.decode(line)
        except UnicodeDecodeError:
            raise ProjectError(NOT_UTF8.format(where=f"line {line_number} cannot be read")) from None
        if "\x00" in text:
            raise ProjectError(f"This is not a CSV file: line {line_number} contains binary data.")
        yield text
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ProjectError(NOT_UTF8.format(where=f"line {line_number} ends mid-character")) from None


def _contact_or_error(row: list[str], columns: dict[str, int]) -> Contact | str:
    values = {column: row[position].strip() if position < len(row) else "" for column, position in columns.items()}
    values["email"] = values["email"].lower()
    if not values["email"]:
        return "Email is missing."
    for column, value in values.items():
        if len(value) > FIELD_MAX_LENGTHS[column]:
            return f"{column.capitalize()} is longer than {FIELD_MAX_LENGTHS[column]} characters."
    try:
        validate_email(values["email"])
    except ValidationError:
        return "Email is not a valid address."
    if not values["name"]:
        return "Name is missing."
    return Contact(**values)


def _import_batch(
    contact_import: ContactImport, batch: list[tuple[int, list[str]]], columns: dict[str, int], *, offset: int
) -> bool:
    """Commit one batch that starts `offset` rows in; False when another run of the import already did."""
    contacts: dict[str, Contact] = {}  # by email: a repeated address in one statement would be a conflict
    errors = []
    for row_number, row in batch:
        outcome = _contact_or_error(row, columns)
        if isinstance(outcome, Contact):
            contacts[outcome.email] = outcome
        else:
            email = row[columns["email"]].strip() if columns["email"] < len(row) else ""
            errors.append(
                ContactImportError(
                    contact_import=contact_import, row_number=row_number, email=email[:254], message=outcome
                )
            )
    with transaction.atomic():
        # The import's row lock orders concurrent runs; whoever finds the counter moved on has been overtaken.
        locked = ContactImport.objects.select_for_update().filter(pk=contact_import.pk)
        if locked.values_list("processed", flat=True).get() != offset:
            return False
        existing = Contact.objects.filter(email__in=contacts).count()
        Contact.objects.bulk_create(
            contacts.values(),
            update_conflicts=True,
            unique_fields=["email"],
            update_fields=["name", "company", "phone", "updated_at"],
        )
        ContactImportError.objects.bulk_create(errors)
        created = len(contacts) - existing
        ContactImport.objects.filter(pk=contact_import.pk).update(
            processed=F("processed") + len(batch),
            created=F("created") + created,
            updated=F("updated") + len(batch) - len(errors) - created,
            failed_rows=F("failed_rows") + len(errors),
        )
    return True


def _update(contact_import: ContactImport, **fields) -> None:
    ContactImport.objects.filter(pk=contact_import.pk).update(**fields)
    for name, value in fields.items():
        setattr(contact_import, name, value)
