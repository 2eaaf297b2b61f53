"""Celery interfaces for accounts: take IDs, call one service."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from accounts import services
from core.locks import nonoverlapping
from core.tasking import TRANSIENT_ERRORS, ProjectTask

# 50,000 rows took 8 s on a loaded 2-core machine (docs/tasks-accounts.md), so the largest file accepted
# (CONTACT_IMPORT_MAX_BYTES, about 150,000 rows) about 25 s: 210 s leaves room for a slower host and stays
# below the broker's visibility timeout (270 s), which a task killed with its worker waits out.
IMPORT_SOFT_TIME_LIMIT = 210
IMPORT_TIME_LIMIT = 240
CLEANUP_SOFT_TIME_LIMIT = 210
CLEANUP_TIME_LIMIT = 240


@shared_task(
    base=ProjectTask,
    name="accounts.import_contacts",
    queue="bulk",
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT,
    time_limit=IMPORT_TIME_LIMIT,
    autoretry_for=TRANSIENT_ERRORS,
    ignore_result=False,
)
def import_contacts(upload_id: int) -> None:
    # No Redis lock: a lock held by a killed worker would make the redelivery skip the import for good. The
    # service's row lock per batch already lets a duplicate run commit nothing twice.
    try:
        services.contact_import_run(contact_import_id=upload_id)
    except SoftTimeLimitExceeded:
        services.contact_import_fail(
            contact_import_id=upload_id,
            message="The import took too long and was stopped; rows saved so far stay imported.",
        )
        raise


@shared_task(
    base=ProjectTask,
    name="accounts.cleanup_expired_sessions",
    queue="bulk",
    soft_time_limit=CLEANUP_SOFT_TIME_LIMIT,
    time_limit=CLEANUP_TIME_LIMIT,
    autoretry_for=TRANSIENT_ERRORS,
)
def cleanup_expired_sessions() -> None:
    with nonoverlapping("accounts.cleanup_expired_sessions", timeout=CLEANUP_TIME_LIMIT) as acquired:
        if acquired:
            services.expired_sessions_delete()
