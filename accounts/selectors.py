"""Reads for contacts and their imports: progress and the per-row error report."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from accounts.models import ContactImport
from core.models import Job
from core.tasking.jobs import latest_job
from core.times import format_date

# The import task, by its registered name (tests/accounts check it against the task).
IMPORT_TASK = "accounts.import_contacts"
# Error rows fetched per round trip while streaming the report.
ERROR_REPORT_CHUNK_SIZE = 2_000
# A cell starting with one of these is a formula to a spreadsheet; uploaded text must never run as one.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ImportProgress:
    status: str
    processed: int
    total: int
    created: int
    updated: int
    failed: int
    percent: int
    error: str
    job_state: str  # the import job's state: queued, running, retrying, succeeded, failed, cancelled
    job_note: str  # what it says while the import row cannot: waiting for a worker, retrying, gave up
    retention_note: str  # once the retention rule deleted the upload and the error report: when, and why

    @property
    def finished(self) -> bool:
        job_ended = self.job_state in {Job.State.FAILED, Job.State.CANCELLED}
        return self.status in {ContactImport.Status.DONE, ContactImport.Status.FAILED} or job_ended


def contact_import_progress(*, contact_import: ContactImport) -> ImportProgress:
    """The import's progress as last saved by its task (read fresh, so polling sees each batch), and its job's
    state, which tells a queued import from one whose worker is retrying or gave up."""
    current = ContactImport.objects.get(pk=contact_import.pk)
    job = latest_job(current, IMPORT_TASK)
    if current.status == ContactImport.Status.DONE:
        percent = 100
    else:
        percent = current.processed * 100 // current.total_rows if current.total_rows else 0
    return ImportProgress(
        status=current.status,
        processed=current.processed,
        total=current.total_rows,
        created=current.created,
        updated=current.updated,
        failed=current.failed_rows,
        percent=percent,
        error=current.error,
        job_state=job.state if job else "",
        job_note=_job_note(job) if current.status != ContactImport.Status.DONE else "",
        retention_note=_retention_note(current),
    )


def _retention_note(contact_import: ContactImport) -> str:
    if contact_import.upload_deleted_at is None:
        return ""
    return (
        f"The uploaded file and its error report were deleted on {format_date(contact_import.upload_deleted_at)}: "
        f"uploads are kept for {settings.CONTACT_IMPORT_RETENTION_DAYS} days."
    )


def _job_note(job: Job | None) -> str:
    if job is None:
        return ""
    if job.state == Job.State.QUEUED:
        return "Waiting for a worker."
    if job.state == Job.State.RETRYING:
        return f"Retrying (attempt {job.attempt}): {job.error}"
    if job.state in {Job.State.FAILED, Job.State.CANCELLED}:
        return f"The import job {job.state}: {job.error}"
    return ""


def contact_import_errors_csv(*, contact_import: ContactImport) -> Iterator[str]:
    """Lines of the error report (row, email, message), streamed for a StreamingHttpResponse."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(["row", "email", "message"])
    errors = contact_import.errors.order_by("row_number").values_list("row_number", "email", "message")
    for row_number, email, message in errors.iterator(chunk_size=ERROR_REPORT_CHUNK_SIZE):
        yield line([row_number, _spreadsheet_safe(email), message])


def _spreadsheet_safe(value: str) -> str:
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value
