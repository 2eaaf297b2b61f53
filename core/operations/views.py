"""Operator pages for staff: queues, workers, beat, each task kind's latest job, and dead letters with a retry
button."""

import logging
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.models import DeadLetter
from core.operations import health
from core.redis import redis_client
from core.tasking.deadletters import dead_letter_retry
from core.tasking.jobs import task_kind_activity

logger = logging.getLogger(__name__)

DEAD_LETTERS_SHOWN = 50


def staff_only(view):
    """Non-staff get a 404: the page does not exist for them, and its address reveals nothing."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@staff_only
@require_GET
def operations(request):
    return render(request, "core/operations.html", _operations_context())


@staff_only
@require_GET
def operations_live(request):
    """The polled part of the page: everything but the static links."""
    return render(request, "core/_operations_live.html", _operations_context())


@staff_only
@require_POST
def dead_letter_retry_view(request, pk: int):
    letter = get_object_or_404(DeadLetter, pk=pk, resolved_at__isnull=True, malformed=False)
    task_id = dead_letter_retry(letter=letter)
    logger.info("%s retried dead letter %s as task %s", request.user, letter.pk, task_id)
    messages.success(request, f"{letter.task_name} queued again as task {task_id}.")
    return redirect("operations:index")


def _operations_context() -> dict:
    # Heartbeats live in Redis, and so do the queues when it is also the broker: when it does not answer,
    # say so once rather than wait out its timeout for every read.
    store = _probe(lambda: redis_client().ping())
    if "error" in store:
        workers = beat_age = store
        queues = store if settings.CELERY_BROKER_URL == settings.REDIS_URL else _probe(health.queue_depths)
    else:
        workers, beat_age = _probe(health.worker_queues), _probe(health.beat_heartbeat_age)
        queues = _probe(health.queue_depths)
    consumed = {queue for worker_queues in workers.get("value", {}).values() for queue in worker_queues}
    return {
        "queues": queues,
        "consumed_queues": consumed,
        "workers": workers,
        "beat_age": beat_age,
        "beat_max_age": settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS,
        "task_kinds": task_kind_activity(),
        "dead_letters": DeadLetter.objects.filter(resolved_at__isnull=True)[:DEAD_LETTERS_SHOWN],
    }


def _probe(read):
    """A broker or Redis outage is exactly when operators open this page: show the error, not a 500."""
    try:
        return {"value": read()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
