"""Staff pages for newsletters: compose and send to every subscriber, watch the progress live, cancel."""

import logging

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ProjectError
from core.operations.views import staff_only
from core.tasking import outbox
from notifications import services, tasks
from notifications.models import Newsletter
from notifications.selectors import newsletter_progress, subscribers_receiving_mail

logger = logging.getLogger(__name__)

NEWSLETTERS_SHOWN = 50


@staff_only
@require_GET
def newsletter_list(request):
    return render(
        request,
        "notifications/staff/newsletter_list.html",
        {
            "newsletters": Newsletter.objects.all()[:NEWSLETTERS_SHOWN],
            "subscriber_count": subscribers_receiving_mail().count(),
        },
    )


@staff_only
@require_POST
def newsletter_send(request):
    """Compose and start in one transaction: the task is enqueued only if both stuck."""
    subject, body = request.POST.get("subject", ""), request.POST.get("body", "")
    try:
        with transaction.atomic():
            newsletter = services.newsletter_create(subject=subject, body=body, created_by=request.user)
            newsletter = services.newsletter_start(newsletter=newsletter)
            task_id = outbox.enqueue(tasks.send_newsletter, newsletter.pk)
    except ProjectError as exc:
        messages.error(request, str(exc))
        return render(
            request,
            "notifications/staff/newsletter_list.html",
            {
                "newsletters": Newsletter.objects.all()[:NEWSLETTERS_SHOWN],
                "subscriber_count": subscribers_receiving_mail().count(),
                "subject": subject,
                "body": body,
            },
            status=400,
        )
    logger.info("newsletter %s started by %s, task %s", newsletter.pk, request.user, task_id)
    messages.success(request, f"Sending “{newsletter.subject}” to {newsletter.total} subscribers.")
    return redirect("newsletters:detail", pk=newsletter.pk)


@staff_only
@require_GET
def newsletter_detail(request, pk: int):
    newsletter = get_object_or_404(Newsletter, pk=pk)
    return render(request, "notifications/staff/newsletter_detail.html", _progress_context(newsletter))


@staff_only
@require_GET
def newsletter_progress_partial(request, pk: int):
    newsletter = get_object_or_404(Newsletter, pk=pk)
    return render(request, "notifications/staff/_progress.html", _progress_context(newsletter))


@staff_only
@require_POST
def newsletter_cancel(request, pk: int):
    newsletter = get_object_or_404(Newsletter, pk=pk)
    try:
        services.newsletter_cancel(newsletter=newsletter)
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{newsletter.subject}” cancelled; messages already sent stay sent.")
    return redirect("newsletters:detail", pk=newsletter.pk)


def _progress_context(newsletter: Newsletter) -> dict:
    progress = newsletter_progress(newsletter=newsletter)
    return {"newsletter": newsletter, "progress": progress, "polling": progress.status == Newsletter.Status.SENDING}
