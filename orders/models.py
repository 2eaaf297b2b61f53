"""Tables for customers, products, carts, orders, invoices and order exports."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import ExpressionWrapper, F

from core.money import money_field, money_sum


class Customer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer")
    name = models.CharField(max_length=200)
    email = models.EmailField()

    def __str__(self):
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name} ({self.sku})"


class Cart(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="carts")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    quantity = models.PositiveIntegerField(default=1)


def line_amount(path: str = "") -> ExpressionWrapper:
    """An order line's unit price × quantity, as exact numeric computed by the database; `path` reaches the
    lines from another model, e.g. "items__" from Order."""
    return ExpressionWrapper(F(f"{path}unit_price") * F(f"{path}quantity"), output_field=money_field())


class OrderQuerySet(models.QuerySet):
    def with_totals(self) -> "OrderQuerySet":
        """Each order with `total_amount`, summed by the database, for lists that show many orders."""
        return self.annotate(total_amount=money_sum(line_amount("items__")))

    def count_and_total(self) -> tuple[int, Decimal]:
        """How many orders these are and what they add up to, summed by the database."""
        return self.count(), OrderItem.objects.filter(order__in=self).total()


class OrderItemQuerySet(models.QuerySet):
    def with_amounts(self) -> "OrderItemQuerySet":
        return self.annotate(amount=line_amount())

    def total(self) -> Decimal:
        """The sum of these lines in cents, by the database."""
        return self.aggregate(total=money_sum(line_amount()))["total"]


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"
        VALIDATED = "validated", "Validated"
        PAID = "paid", "Paid"
        CONFIRMED = "confirmed", "Confirmed"
        FULFILLED = "fulfilled", "Fulfilled"
        FAILED = "failed", "Failed"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    failure_reason = models.TextField(blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # When the order was last queued for the pipeline; a second run is refused while one is under way.
    pipeline_queued_at = models.DateTimeField(null=True, blank=True)
    # Set in the same transaction as the stock decrement, so a retried step decrements nothing.
    inventory_updated_at = models.DateTimeField(null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Order #{self.pk}"

    @property
    def total(self) -> Decimal:
        return self.items.total()


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    objects = OrderItemQuerySet.as_manager()


class Invoice(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="invoice")
    number = models.CharField(max_length=30, unique=True)
    pdf = models.FileField(upload_to="invoices/", blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.number


class OrderExport(models.Model):
    """A user's "Export my orders": the CSV of the orders they see, stored and emailed to them once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="order_exports")
    task_id = models.CharField(max_length=191, blank=True)  # its django.tasks result id (the job row's)
    requested_at = models.DateTimeField(auto_now_add=True)
    file = models.FileField(upload_to="exports/", blank=True)
    orders = models.PositiveIntegerField(default=0)
    # Set in the same transaction as the file and committed as the mail server accepts the mail, so a
    # redelivered task sends nothing more (at-least-once only within that gap, as for invoices).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self):
        return f"Export {self.pk} of {self.user}"
