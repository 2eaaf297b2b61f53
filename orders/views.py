"""Pages for orders: list, detail, and the actions that start background jobs."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core import outbox
from core.exceptions import ProjectError
from orders import services, tasks
from orders.selectors import orders_visible_to

logger = logging.getLogger(__name__)


@login_required
def order_list(request):
    orders = orders_visible_to(user=request.user)[:200]
    return render(request, "orders/order_list.html", {"orders": orders})


@login_required
def order_detail(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/order_detail.html", {"order": order})


@login_required
def order_jobs(request, pk: int):
    """The live part of the detail page, polled while a job runs."""
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    return render(request, "orders/_jobs.html", {"order": order})


@login_required
@require_POST
def order_send_invoice(request, pk: int):
    order = get_object_or_404(orders_visible_to(user=request.user), pk=pk)
    try:
        with transaction.atomic():
            invoice = services.invoice_request(order=order)
            task_id = outbox.enqueue(tasks.send_invoice_email, order.pk)
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        logger.info("invoice %s requested, task %s", invoice.number, task_id)
        messages.success(request, f"Invoice {invoice.number} queued.")
    return redirect("orders:detail", pk=order.pk)
