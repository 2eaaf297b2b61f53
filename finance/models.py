"""Tables for charges, exchange rates and revenue reports."""

import uuid

from django.db import models
from django.db.models import Q

from core.money import format_money


def new_idempotency_key() -> str:
    return f"charge-{uuid.uuid4().hex}"


class Charge(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="charges")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    # Sent with every attempt of this charge, so the gateway debits once however often we retry.
    idempotency_key = models.CharField(max_length=80, unique=True, default=new_idempotency_key, editable=False)
    gateway_reference = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one charge per order that is not declined: never two live attempts, never two debits.
            models.UniqueConstraint(fields=["order"], condition=~Q(status="failed"), name="one_live_charge_per_order"),
        ]

    def __str__(self):
        return f"Charge {self.pk} for order #{self.order_id} ({self.status})"


class ExchangeRate(models.Model):
    """Units of `currency` per euro, as published for `date`."""

    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=18, decimal_places=6)
    date = models.DateField()

    class Meta:
        ordering = ["-date", "currency"]
        constraints = [models.UniqueConstraint(fields=["currency", "date"], name="one_rate_per_currency_and_date")]

    def __str__(self):
        return f"1 EUR = {self.rate} {self.currency} on {self.date}"


class RevenueReport(models.Model):
    """One row per reported day, so a redelivered report task emails nothing twice."""

    date = models.DateField(unique=True)
    paid_orders = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=14, decimal_places=2)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Revenue {self.date}: {format_money(self.revenue)}"
