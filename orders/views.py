"""Pages for orders: list, detail, and the actions that start background jobs."""

import logging
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.exceptions import ProjectError
from core.money import format_money
from core.operations.views import staff_only
from core.tasking import outbox
from orders import pipeline, services, tasks
from orders.models import Invoice, Order, OrderExport
from orders.selectors import order_export_latest, order_jobs, order_lines, orders_visible_to

logger = logging.getLogger(__name__)

ORDERS_LISTED = 200


@login_required
@require_GET
def order_list(request):
    visible = orders_visible_to(user=request.user)
    count, total = visible.count_and_total()
    context = {
        "orders": visible.with_totals()[:ORDERS_LISTED],
        "count": count,
        "total": total,
        "export": order_export_latest(user=request.user),
    }
    return render(request, "orders/order_list.html", context)


@login_required
@require_GET
def order_detail(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/order_detail.html", {**_jobs_context(order), "lines": order_lines(order=order)})


@login_required
@require_GET
def order_jobs_partial(request, pk: int):
    """The live part of the detail page, polled while a job runs."""
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/_jobs.html", _jobs_context(order))


@staff_only
@require_GET
def invoice_pdf(request, pk: int):
    """The sent invoice's PDF, streamed from storage (a folder, or a private bucket that browsers never reach)."""
    invoice = get_object_or_404(Invoice.objects.exclude(pdf=""), order_id=pk)
    try:
        pdf = invoice.pdf.open("rb")
    except FileNotFoundError:
        raise Http404(f"{invoice.number}.pdf is not stored") from None
    return FileResponse(pdf, content_type="application/pdf", filename=f"{invoice.number}.pdf")


@login_required
@require_POST
def order_send_invoice(request, pk: int):
    return _start_job(
        request,
        pk,
        tasks.send_invoice_email,
        lambda order: f"Invoice {services.invoice_request(order=order).number} queued.",
    )


@login_required
@require_POST
def order_charge(request, pk: int):
    def request_charge(order):
        charge = pipeline.order_charge_request(order=order)
        return f"Payment of {format_money(charge.amount, charge.currency)} queued."

    return _start_job(request, pk, tasks.charge_order, request_charge)


@login_required
@require_POST
def order_run_pipeline(request, pk: int):
    def request_pipeline(order):
        pipeline.pipeline_request(order=order)
        return f"Order #{order.pk} queued for the full pipeline."

    return _start_job(request, pk, tasks.start_pipeline, request_pipeline)


@login_required
@require_POST
def order_export(request):
    """Export my orders: the CSV is written and emailed by a django.tasks task; the list shows how it went."""
    try:
        with transaction.atomic():
            export = services.order_export_request(user=request.user)
            result = tasks.export_orders_csv.enqueue(export.pk)
            services.order_export_record_task(export=export, task_id=result.id)
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        logger.info("order export %s requested, task %s", export.pk, result.id)
        messages.success(request, f"Export queued: the CSV will be emailed to {request.user.email}.")
    return redirect("orders:list")


@login_required
@require_GET
def order_export_download(request, pk: int):
    export = get_object_or_404(OrderExport, pk=pk, user=request.user, emailed_at__isnull=False)
    return FileResponse(export.file.open("rb"), as_attachment=True, filename=export.file.name.rsplit("/", 1)[-1])


def _start_job(request, pk: int, task, request_job: Callable[[Order], str]):
    """Record the request and its task message in one transaction, then answer at once."""
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    try:
        with transaction.atomic():
            success = request_job(order)
            task_id = outbox.enqueue(task, order.pk)
    except ProjectError as exc:
        return _answer(request, order, error=str(exc))
    logger.info("%s for order %s requested, task %s", task.name, order.pk, task_id)
    return _answer(request, order, success=success)


# Each job's button: its URL name, element id and text.
JOB_ACTIONS = {
    "invoice": ("orders:send_invoice", "send-invoice", "Send invoice"),
    "charge": ("orders:charge", "charge", "Charge"),
    "pipeline": ("orders:run_pipeline", "run-pipeline", "Run full pipeline"),
}


def _jobs_context(order, **notice) -> dict:
    jobs = order_jobs(order=order)
    rows = [(job, reverse(JOB_ACTIONS[job.key][0], args=[order.pk]), *JOB_ACTIONS[job.key][1:]) for job in jobs]
    return {"order": order, "rows": rows, "polling": not all(job.finished for job in jobs), **notice}


def _answer(request, order, *, success: str = "", error: str = ""):
    """HTMX gets the jobs partial at once; a plain form post is redirected back to the page (POST/redirect/GET)."""
    if request.headers.get("HX-Request"):
        order.refresh_from_db()
        return render(request, "orders/_jobs.html", _jobs_context(order, success=success, error=error))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, success)
    return redirect("orders:detail", pk=order.pk)
