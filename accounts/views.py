"""Staff pages for contact imports: upload a CSV, watch its progress live, download the per-row errors."""

import logging

from django.contrib import messages
from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import services, tasks
from accounts.models import ContactImport
from accounts.selectors import contact_import_errors_csv, contact_import_progress
from core.exceptions import ProjectError
from core.operations.middleware import accepts_upload
from core.operations.views import staff_only
from core.tasking import outbox

logger = logging.getLogger(__name__)

IMPORTS_SHOWN = 50


@staff_only
@require_GET
def import_list(request):
    return render(request, "accounts/import_list.html", {"imports": ContactImport.objects.all()[:IMPORTS_SHOWN]})


@accepts_upload(max_file_bytes_setting="CONTACT_IMPORT_MAX_BYTES")
@staff_only
@require_POST
def import_upload(request):
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return _upload_refused(request, "Choose a CSV file to upload.")
    try:
        with transaction.atomic():
            contact_import = services.contact_import_create(uploaded_file=uploaded, created_by=request.user)
            task_id = outbox.enqueue(tasks.import_contacts, contact_import.pk)
    except ProjectError as exc:
        return _upload_refused(request, str(exc))
    logger.info("contact import %s uploaded by %s, task %s", contact_import.pk, request.user, task_id)
    messages.success(request, f"“{contact_import.original_name}” uploaded; the import runs in the background.")
    return redirect("imports:detail", pk=contact_import.pk)


@staff_only
@require_GET
def import_detail(request, pk: int):
    contact_import = get_object_or_404(ContactImport, pk=pk)
    return render(request, "accounts/import_detail.html", _progress_context(contact_import))


@staff_only
@require_GET
def import_progress_partial(request, pk: int):
    contact_import = get_object_or_404(ContactImport, pk=pk)
    return render(request, "accounts/_import_progress.html", _progress_context(contact_import))


@staff_only
@require_GET
def import_errors_download(request, pk: int):
    # Once the retention rule deleted the report there is nothing to download; the import's page says so.
    contact_import = get_object_or_404(ContactImport, pk=pk, upload_deleted_at__isnull=True)
    response = StreamingHttpResponse(
        contact_import_errors_csv(contact_import=contact_import), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{contact_import.pk}-errors.csv"'
    return response


def _upload_refused(request, reason: str):
    messages.error(request, reason)
    return render(
        request, "accounts/import_list.html", {"imports": ContactImport.objects.all()[:IMPORTS_SHOWN]}, status=400
    )


def _progress_context(contact_import: ContactImport) -> dict:
    progress = contact_import_progress(contact_import=contact_import)
    return {"contact_import": contact_import, "progress": progress, "polling": not progress.finished}
