"""Creates demo data and the admin account; safe to run again (it only tops up what is missing). It lives in
the project package, the one place that knows every app, so `core` stays below the apps it serves."""

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from core.devtools.runstack import local_secrets
from notifications.services import subscribers_demo_create
from orders.services import demo_orders_create


class Command(BaseCommand):
    help = "Seed demo customers, products, orders and an admin account."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=3)
        parser.add_argument("--orders-per-customer", type=int, default=4)
        parser.add_argument("--subscribers", type=int, default=200, help="opted-in newsletter subscribers")
        parser.add_argument(
            "--password", help="password of the admin and the demo customers (default: the one `make run` prints)"
        )

    def handle(self, *args, customers: int, orders_per_customer: int, subscribers: int, password, **options):
        password = password or local_secrets(settings.RUN_DIR / "credentials.json")["password"]
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        demo_orders_create(customers=customers, orders_per_customer=orders_per_customer, password=password)
        subscribers_demo_create(count=subscribers)
        self.stdout.write(
            f"demo data ready: {customers} customers, {orders_per_customer} orders each, {subscribers} subscribers"
        )
