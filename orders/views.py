"""Pages for orders: list, detail, and the actions that start background jobs."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core import outbox
from core.exceptions import ProjectError
from finance import services as finance_services
from finance import tasks as finance_tasks
from orders import pipeline, services, tasks
from orders.selectors import order_jobs, orders_visible_to

logger = logging.getLogger(__name__)


@login_required
@require_GET
def order_list(request):
    orders = orders_visible_to(user=request.user)[:200]
    return render(request, "orders/order_list.html", {"orders": orders})


@login_required
@require_GET
def order_detail(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/order_detail.html", _jobs_context(order))


@login_required
@require_GET
def order_jobs_partial(request, pk: int):
    """The live part of the detail page, polled while a job runs."""
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/_jobs.html", _jobs_context(order))


@login_required
@require_POST
def order_send_invoice(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    try:
        with transaction.atomic():
            invoice = services.invoice_request(order=order)
            task_id = outbox.enqueue(tasks.send_invoice_email, order.pk)
    except ProjectError as exc:
        return _answer(request, order, error=str(exc))
    logger.info("invoice %s requested, task %s", invoice.number, task_id)
    return _answer(request, order, success=f"Invoice {invoice.number} queued.")


@login_required
@require_POST
def order_charge(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    try:
        with transaction.atomic():
            charge = finance_services.charge_request(order=order)
            task_id = outbox.enqueue(finance_tasks.charge_customer, order.pk)
    except ProjectError as exc:
        return _answer(request, order, error=str(exc))
    logger.info("charge %s requested, task %s", charge.pk, task_id)
    return _answer(request, order, success=f"Payment of {charge.amount} {charge.currency} queued.")


@login_required
@require_POST
def order_run_pipeline(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    try:
        with transaction.atomic():
            pipeline.pipeline_request(order=order)
            task_id = outbox.enqueue(tasks.start_pipeline, order.pk)
    except ProjectError as exc:
        return _answer(request, order, error=str(exc))
    logger.info("pipeline of order %s requested, task %s", order.pk, task_id)
    return _answer(request, order, success=f"Order #{order.pk} queued for the full pipeline.")


def _jobs_context(order, **notice) -> dict:
    jobs = order_jobs(order=order)
    return {"order": order, "jobs": jobs, "polling": not all(job.finished for job in jobs), **notice}


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
