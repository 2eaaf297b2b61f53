"""Reads for orders: what a user may see, and the state of an order's background jobs."""

from dataclasses import dataclass, replace

from django.db.models import QuerySet
from redis.exceptions import RedisError

from core.models import Job
from core.money import format_money
from core.operations.health import worker_alive
from core.tasking.jobs import latest_job
from core.times import format_time
from finance.models import Charge
from finance.selectors import charge_for_order
from orders.models import Order, OrderExport, OrderItem

FINISHED_STATES = {"idle", "done", "failed", "cancelled"}
STATE_LABELS = {"idle": "not started", "lost": "worker lost, will run again"}


@dataclass(frozen=True)
class JobState:
    """What the detail page shows for one job: idle, queued, running, lost, retrying, done, failed or cancelled."""

    key: str
    label: str
    state: str
    detail: str = ""
    steps: tuple[tuple[str, str], ...] = ()  # (step, state) of a multi-step job, in order
    retries: int = 0
    trace_id: str = ""  # of the latest run's trace, shown to staff

    @property
    def state_label(self) -> str:
        if self.state in STATE_LABELS:
            return STATE_LABELS[self.state]
        return f"retrying ({self.retries})" if self.state == "retrying" and self.retries else self.state

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def can_start(self) -> bool:
        """Its button is live only when starting it again means something: never run, failed or cancelled."""
        return self.state in {"idle", "failed", "cancelled"}


def orders_visible_to(*, user) -> QuerySet[Order]:
    """Staff see every order; a customer only their own; anyone else nothing."""
    orders = Order.objects.select_related("customer", "invoice")
    if user.is_staff:
        return orders
    return orders.filter(customer__user=user)


def order_lines(*, order: Order) -> QuerySet[OrderItem]:
    """The order's lines with their product and `amount`, in the order they were added."""
    return order.items.select_related("product").with_amounts().order_by("pk")


# The tasks behind the page's jobs, by their registered names (tests/orders check them against the tasks).
INVOICE_TASK = "orders.send_invoice_email"
CHARGE_TASK = "orders.charge_order"
PIPELINE_TASK = "orders.start_pipeline"
PIPELINE_STEPS = (
    ("Validate", "orders.validate_order"),
    ("Charge", CHARGE_TASK),
    ("Confirm", "orders.send_order_confirmation"),
    ("Update inventory", "orders.update_inventory"),
)


JOB_TASKS = {"invoice": INVOICE_TASK, "charge": CHARGE_TASK, "pipeline": PIPELINE_TASK}


def job_progress(job: Job | None) -> tuple[str, str, int]:
    """(state, detail, retries) of a job row while its domain row is not finished yet.

    A job running on a worker whose heartbeat has gone is "lost": the broker hands it to another worker
    (Redis after CELERY_VISIBILITY_TIMEOUT, RabbitMQ at once)."""
    if job is None or job.state == Job.State.QUEUED:
        return "queued", "waiting for a worker", 0
    if job.state == Job.State.RUNNING:
        if job.worker and _worker_gone(job.worker):
            return "lost", f"{job.worker} stopped", 0
        return "running", "", 0
    if job.state == Job.State.RETRYING:
        return "retrying", _short(job.error), job.attempt
    if job.state == Job.State.SUCCEEDED:
        return "done", "", 0
    return str(job.state), _short(job.error), 0  # failed or cancelled, with the reason


def invoice_job(*, order: Order) -> JobState:
    invoice = getattr(order, "invoice", None)
    if invoice is None or invoice.requested_at is None:
        return JobState("invoice", "Invoice", "idle")
    label = f"Invoice {invoice.number}"
    if invoice.sent_at is not None:
        return JobState("invoice", label, "done", f"emailed {format_time(invoice.sent_at)}")
    state, detail, retries = job_progress(latest_job(order, INVOICE_TASK))
    return JobState("invoice", label, state, detail, retries=retries)


def charge_job(*, order: Order) -> JobState:
    charge = charge_for_order(order_id=order.pk)
    if charge is None:
        return JobState("charge", "Payment", "idle")
    label = f"Payment {format_money(charge.amount, charge.currency)}"
    if charge.status == Charge.Status.SUCCEEDED:
        return JobState("charge", label, "done", "charged")
    if charge.status == Charge.Status.FAILED:
        return JobState("charge", label, "failed", charge.failure_reason)
    state, detail, retries = job_progress(latest_job(order, CHARGE_TASK))
    return JobState("charge", label, state, detail, retries=retries)


def pipeline_job(*, order: Order) -> JobState:
    """Steps passed are the facts their services record on the order or its charge; the step under way shows
    its own job (queued, running, retrying with the last error, lost), a child of the pipeline's job."""
    if order.pipeline_queued_at is None:
        return JobState("pipeline", "Full pipeline", "idle")
    charge = charge_for_order(order_id=order.pk)
    passed = [
        charge is not None or order.status not in {Order.Status.NEW, Order.Status.FAILED},
        charge is not None and charge.status == Charge.Status.SUCCEEDED,
        order.confirmation_sent_at is not None,
        order.inventory_updated_at is not None,
    ]
    current = passed.index(False) if False in passed else len(passed)
    retries = 0
    if order.status == Order.Status.FAILED:
        state, detail = "failed", order.failure_reason
    elif current == len(passed):
        state, detail = "done", "fulfilled"
    else:
        step, step_task = PIPELINE_STEPS[current]
        run = latest_job(order, PIPELINE_TASK)
        if run is not None and run.state == Job.State.SUCCEEDED:  # the chain is out: follow its step
            run = run.children.filter(task_name=step_task).order_by("-queued_at").first()
        state, detail, retries = job_progress(run)
        if state == "done":
            state, detail = "running", ""  # the step's job ended; its fact is being written
        detail = f"{step.lower()}: {detail}" if detail else f"{step.lower()}…"
    steps = tuple(
        (name, "done" if index < current else state if index == current else "idle")
        for index, (name, _task) in enumerate(PIPELINE_STEPS)
    )
    return JobState("pipeline", "Full pipeline", state, detail, steps, retries=retries)


def order_jobs(*, order: Order) -> list[JobState]:
    jobs = [invoice_job(order=order), charge_job(order=order), pipeline_job(order=order)]
    traces = {task: job.trace_id for task in JOB_TASKS.values() if (job := latest_job(order, task))}
    return [replace(job, trace_id=traces.get(JOB_TASKS[job.key], "")) for job in jobs]


def _worker_gone(hostname: str) -> bool:
    """Gone when its heartbeat expired; with Redis unreachable nobody can tell, and the job shows running."""
    try:
        return not worker_alive(hostname)
    except RedisError:
        return False


def _short(text: str | None, limit: int = 160) -> str:
    text = (text or "").strip().strip('"')
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ExportState:
    """The latest "Export my orders" of a user, as the order list shows it."""

    export: OrderExport
    state: str  # queued, running, retrying, done or failed


def order_export_latest(*, user) -> ExportState | None:
    export = OrderExport.objects.filter(user=user).first()
    if export is None:
        return None
    if export.emailed_at:
        return ExportState(export, "done")
    job = Job.objects.filter(pk=export.task_id).only("state").first()
    state = job.state if job else Job.State.QUEUED
    return ExportState(export, "failed" if state in {Job.State.FAILED, Job.State.CANCELLED} else state)
