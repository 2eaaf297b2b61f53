"""Task interfaces for orders: take IDs, load, call one service."""

from celery import chain
from django.tasks import task

from core.tasking.policy import BULK_LONG, DEFAULT, EMAIL, REMOTE_CALL, load_or_skip, project_task
from orders import pipeline, services
from orders.models import Order, OrderExport


@project_task("orders.send_invoice_email", EMAIL, subject="orders.Order", ignore_result=False)
def send_invoice_email(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        services.invoice_send(order_id=order_id)


@project_task("orders.start_pipeline", DEFAULT, subject="orders.Order")
def start_pipeline(order_id: int) -> None:
    """Validate → charge → confirm → update inventory; a failing step stops the chain and fails the order."""
    steps = [
        validate_order.si(order_id),
        charge_order.si(order_id),
        send_order_confirmation.si(order_id),
        update_inventory.si(order_id),
    ]
    chain(*(step.on_error(record_pipeline_failure.s()) for step in steps)).apply_async()


@project_task("orders.validate_order", DEFAULT, subject="orders.Order")
def validate_order(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        pipeline.order_validate(order_id=order_id)


# Calls finance's charge service in this task rather than chaining a finance task: the order's app records the
# outcome on the order in the same call, so a step is one idempotent task and no app imports another's tasks.
@project_task("orders.charge_order", REMOTE_CALL, subject="orders.Order", ignore_result=False)
def charge_order(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        pipeline.order_charge(order_id=order_id)


@project_task("orders.send_order_confirmation", EMAIL, subject="orders.Order")
def send_order_confirmation(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        pipeline.order_confirmation_send(order_id=order_id)


@project_task("orders.update_inventory", DEFAULT, subject="orders.Order")
def update_inventory(order_id: int) -> None:
    if load_or_skip(Order, order_id):
        pipeline.order_inventory_update(order_id=order_id)


# No retries of its own: it runs inside the failing step, which has already spent them.
@project_task("orders.record_pipeline_failure", DEFAULT, autoretry_for=())
def record_pipeline_failure(request, exc, traceback) -> None:
    """Error callback of every pipeline step; Celery calls it in the failing worker, after the last retry,
    with the step's request."""
    if load_or_skip(Order, request.args[0]):
        pipeline.order_fail_after_step(order_id=request.args[0], step=request.task, task_id=request.id, error=exc)


@project_task("orders.cleanup_expired_carts", BULK_LONG)
def cleanup_expired_carts() -> None:
    services.carts_delete_expired()


# Django's task API on the project's backend (core/tasking/django_tasks.py): the email profile's queue, limits
# and retries; returns how many orders the CSV holds, which TaskResult.return_value reads back.
@task(queue_name="email")
def export_orders_csv(export_id: int) -> int:
    export = load_or_skip(OrderExport, export_id)
    return services.order_export_send(export_id=export_id).orders if export else 0
