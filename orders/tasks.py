"""Celery interfaces for orders: take IDs, call one service."""

from celery import shared_task

from core.tasking import TRANSIENT_ERRORS, ProjectTask
from orders import services


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
