"""Celery interfaces for accounts: take IDs, call one service."""

from celery.exceptions import SoftTimeLimitExceeded

from accounts import services
from accounts.models import ContactImport
from core.tasking.locks import nonoverlapping
from core.tasking.policy import BULK_LONG, load_or_skip, project_task

# Imports run on BULK_LONG: 50,000 rows took 8 s on a loaded 2-core machine (docs/tasks-accounts.md), so the
# largest file accepted (CONTACT_IMPORT_MAX_BYTES, about 150,000 rows) about 25 s; its 210 s leave room for a
# slower host and stay below the broker's visibility timeout (270 s), which a task killed with its worker waits out.


@project_task("accounts.import_contacts", BULK_LONG, subject="accounts.ContactImport", ignore_result=False)
def import_contacts(upload_id: int) -> None:
    # No Redis lock: a lock held by a killed worker would make the redelivery skip the import for good. The
    # service's row lock per batch already lets a duplicate run commit nothing twice.
    if not load_or_skip(ContactImport, upload_id):
        return
    try:
        services.contact_import_run(contact_import_id=upload_id)
    except SoftTimeLimitExceeded:
        services.contact_import_fail(
            contact_import_id=upload_id,
            message="The import took too long and was stopped; rows saved so far stay imported.",
        )
        raise


@project_task("accounts.cleanup_expired_sessions", BULK_LONG)
def cleanup_expired_sessions() -> None:
    with nonoverlapping("accounts.cleanup_expired_sessions", timeout=BULK_LONG.time_limit) as acquired:
        if acquired:
            services.expired_sessions_delete()


@project_task("accounts.cleanup_expired_import_uploads", BULK_LONG)
def cleanup_expired_import_uploads() -> None:
    with nonoverlapping("accounts.cleanup_expired_import_uploads", timeout=BULK_LONG.time_limit) as acquired:
        if acquired:
            services.expired_import_uploads_delete()
