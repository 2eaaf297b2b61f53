"""Celery interfaces for orders: take IDs, call one service."""

from celery import chain, shared_task

from core.exceptions import ProjectError
from core.tasking import TRANSIENT_ERRORS, ProjectTask
from finance.tasks import charge_customer
from orders import pipeline, services


@shared_task(
    base=ProjectTask,
    name="orders.send_invoice_email",
    queue="email",
    soft_time_limit=50,
    time_limit=60,
    autoretry_for=TRANSIENT_ERRORS,
    ignore_result=False,
)
def send_invoice_email(order_id: int) -> None:
    services.invoice_send(order_id=order_id)


@shared_task(
    base=ProjectTask,
    name="orders.start_pipeline",
    queue="default",
    soft_time_limit=20,
    time_limit=30,
    autoretry_for=TRANSIENT_ERRORS,
)
def start_pipeline(order_id: int) -> None:
    """Validate → charge → confirm → update inventory; a failing step stops the chain and fails the order."""
    steps = [validate_order.si(order_id), charge_customer.si(order_id), send_order_confirmation.si(order_id),
             update_inventory.si(order_id)]
    chain(*(step.on_error(record_pipeline_failure.s()) for step in steps)).apply_async()


@shared_task(
    base=ProjectTask,
    name="orders.validate_order",
    queue="default",
    soft_time_limit=20,
    time_limit=30,
    autoretry_for=TRANSIENT_ERRORS,
)
def validate_order(order_id: int) -> None:
    pipeline.order_validate(order_id=order_id)


@shared_task(
    base=ProjectTask,
    name="orders.send_order_confirmation",
    queue="email",
    soft_time_limit=50,
    time_limit=60,
    autoretry_for=TRANSIENT_ERRORS,
)
def send_order_confirmation(order_id: int) -> None:
    pipeline.order_confirmation_send(order_id=order_id)


@shared_task(
    base=ProjectTask,
    name="orders.update_inventory",
    queue="default",
    soft_time_limit=20,
    time_limit=30,
    autoretry_for=TRANSIENT_ERRORS,
)
def update_inventory(order_id: int) -> None:
    pipeline.order_inventory_update(order_id=order_id)


@shared_task(base=ProjectTask, name="orders.record_pipeline_failure", queue="default", soft_time_limit=20, time_limit=30)
def record_pipeline_failure(request, exc, traceback) -> None:
    """Error callback of every pipeline step; Celery calls it in the failing worker, after the last retry,
    with the step's request. Domain failures keep the reason their service recorded."""
    reason = str(exc) if isinstance(exc, ProjectError) else (
        f"Step {request.task} could not complete and was handed to staff (task {request.id})."
    )
    pipeline.order_fail(order_id=request.args[0], reason=reason)


@shared_task(
    base=ProjectTask,
    name="orders.cleanup_expired_carts",
    queue="bulk",
    soft_time_limit=210,  # below the visibility timeout; batches commit, so the next run continues
    time_limit=240,
    autoretry_for=TRANSIENT_ERRORS,
)
def cleanup_expired_carts() -> None:
    services.carts_delete_expired()
