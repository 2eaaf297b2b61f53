"""Reads for orders: what a user may see, and the state of an order's background jobs."""

import json
from dataclasses import dataclass

from django.db.models import QuerySet
from django_celery_results.models import TaskResult
from redis.exceptions import RedisError

from core.models import DeadLetter, OutboxMessage
from core.money import format_money
from core.operations.health import worker_alive
from core.times import format_time
from finance.models import Charge
from finance.selectors import charge_for_order
from orders.models import Order, OrderItem

FINISHED_STATES = {"idle", "done", "failed"}
STATE_LABELS = {"idle": "not started", "lost": "worker lost, will run again"}


@dataclass(frozen=True)
class JobState:
    """What the detail page shows for one job: idle, queued, running, lost, retrying, done or failed."""

    key: str
    label: str
    state: str
    detail: str = ""
    steps: tuple[tuple[str, str], ...] = ()  # (step, state) of a multi-step job, in order
    retries: int = 0

    @property
    def state_label(self) -> str:
        if self.state in STATE_LABELS:
            return STATE_LABELS[self.state]
        return f"retrying ({self.retries})" if self.state == "retrying" and self.retries else self.state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


def orders_visible_to(*, user) -> QuerySet[Order]:
    """Staff see every order; a customer only their own; anyone else nothing."""
    orders = Order.objects.select_related("customer", "invoice")
    if user.is_staff:
        return orders
    return orders.filter(customer__user=user)


def order_lines(*, order: Order) -> QuerySet[OrderItem]:
    """The order's lines with their product and `amount`, in the order they were added."""
    return order.items.select_related("product").with_amounts().order_by("pk")


def task_progress(*, task_name: str, object_id: int) -> tuple[str, str, int]:
    """Where the latest task for this object is while its domain row is not finished yet.

    The task id is the outbox row's id; its TaskResult says running/retrying, a dead letter says it gave up.
    A task started by a worker whose heartbeat has gone is "lost": the broker hands it to another worker
    (Redis after CELERY_VISIBILITY_TIMEOUT, RabbitMQ at once)."""
    message = OutboxMessage.objects.filter(task_name=task_name, args=[object_id]).order_by("-created_at").first()
    if message is None:
        return "queued", "", 0
    task_id = str(message.pk)
    letter = DeadLetter.objects.filter(task_id=task_id, resolved_at__isnull=True).first()
    if letter is not None:
        return "failed", letter.exception, 0
    result = TaskResult.objects.filter(task_id=task_id).only("status", "result", "meta", "worker").first()
    if result is None:
        return "queued", "waiting for a worker" if message.published_at else "waiting for the broker", 0
    if result.status == "STARTED":
        if result.worker and _worker_gone(result.worker):
            return "lost", f"{result.worker} stopped", 0
        return "running", "", 0
    if result.status == "RETRY":
        retries = json.loads(result.meta or "{}").get("retry", 0)  # written by core.tasking.policy.ProjectTask.retry
        return "retrying", _task_error(result.result), retries
    if result.status == "FAILURE":
        return "failed", _task_error(result.result), 0
    return "queued", "", 0


def invoice_job(*, order: Order) -> JobState:
    invoice = getattr(order, "invoice", None)
    if invoice is None or invoice.requested_at is None:
        return JobState("invoice", "Invoice", "idle", "not requested")
    label = f"Invoice {invoice.number}"
    if invoice.sent_at is not None:
        return JobState("invoice", label, "done", f"emailed {format_time(invoice.sent_at)}")
    state, detail, retries = task_progress(task_name="orders.send_invoice_email", object_id=order.pk)
    return JobState("invoice", label, state, detail, retries=retries)


def charge_job(*, order: Order) -> JobState:
    charge = charge_for_order(order_id=order.pk)
    if charge is None:
        return JobState("charge", "Payment", "idle", "not charged")
    label = f"Payment {format_money(charge.amount, charge.currency)}"
    if charge.status == Charge.Status.SUCCEEDED:
        return JobState("charge", label, "done", "charged")
    if charge.status == Charge.Status.FAILED:
        return JobState("charge", label, "failed", charge.failure_reason)
    state, detail, retries = task_progress(task_name="orders.charge_order", object_id=order.pk)
    if state == "queued" and charge.status == Charge.Status.PROCESSING:
        state = "running"  # started by the pipeline's chain, whose task id is not an outbox id
    return JobState("charge", label, state, detail, retries=retries)


PIPELINE_STEPS = ("Validate", "Charge", "Confirm", "Update inventory")


def pipeline_job(*, order: Order) -> JobState:
    """Each step's state comes from the fact its service records on the order or its charge."""
    if order.pipeline_queued_at is None:
        return JobState("pipeline", "Full pipeline", "idle", "not started")
    charge = charge_for_order(order_id=order.pk)
    passed = [
        charge is not None or order.status not in {Order.Status.NEW, Order.Status.FAILED},
        charge is not None and charge.status == Charge.Status.SUCCEEDED,
        order.confirmation_sent_at is not None,
        order.inventory_updated_at is not None,
    ]
    current = passed.index(False) if False in passed else len(passed)
    failed = order.status == Order.Status.FAILED
    if failed:
        state, detail = "failed", order.failure_reason
    elif current == len(passed):
        state, detail = "done", "fulfilled"
    else:
        state, detail = "running", f"{PIPELINE_STEPS[current].lower()}…"
    steps = tuple(
        (name, "done" if index < current else ("failed" if failed else "running") if index == current else "idle")
        for index, name in enumerate(PIPELINE_STEPS)
    )
    return JobState("pipeline", "Full pipeline", state, detail, steps)


def order_jobs(*, order: Order) -> list[JobState]:
    return [invoice_job(order=order), charge_job(order=order), pipeline_job(order=order)]


def _worker_gone(hostname: str) -> bool:
    """Gone when its heartbeat expired; with Redis unreachable nobody can tell, and the job shows running."""
    try:
        return not worker_alive(hostname)
    except RedisError:
        return False


def _short(text: str | None, limit: int = 160) -> str:
    text = (text or "").strip().strip('"')
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _task_error(stored: str | None) -> str:
    """The exception a result backend stored, as a person reads it: `ConnectionRefusedError: 111, …`."""
    try:
        error = json.loads(stored or "")
        message = error["exc_message"]
        text = f"{error['exc_type']}: {', '.join(map(str, message)) if isinstance(message, list) else message}"
    except (ValueError, KeyError, TypeError):
        text = stored
    return _short(text)
