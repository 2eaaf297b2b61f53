"""Admin for charges, exchange rates and revenue reports: read-only, since tasks and services own the writes."""

from django.contrib import admin

from core.money import format_money
from finance.models import Charge, ExchangeRate, RevenueReport


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "status", "shown_amount", "attempts", "gateway_reference", "updated_at")
    list_filter = ("status",)
    search_fields = ("idempotency_key", "gateway_reference", "order__id")

    @admin.display(description="Amount", ordering="amount")
    def shown_amount(self, charge):
        return format_money(charge.amount, charge.currency)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ReadOnlyAdmin):
    list_display = ("date", "currency", "rate")
    list_filter = ("currency",)
    date_hierarchy = "date"


@admin.register(RevenueReport)
class RevenueReportAdmin(ReadOnlyAdmin):
    list_display = ("date", "paid_orders", "shown_revenue", "sent_at")

    @admin.display(description="Revenue", ordering="revenue")
    def shown_revenue(self, report):
        return format_money(report.revenue)
