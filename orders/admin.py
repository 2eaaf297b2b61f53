"""Admin for orders, products and invoices."""

from django.contrib import admin

from core.money import format_money
from orders.models import Cart, Customer, Invoice, Order, OrderItem, Product


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "status", "shown_total", "created_at")
    list_filter = ("status",)
    inlines = [OrderItemInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_totals()

    @admin.display(description="Total", ordering="total_amount")
    def shown_total(self, order):
        return format_money(order.total_amount)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "shown_price", "stock")

    @admin.display(description="Price", ordering="price")
    def shown_price(self, product):
        return format_money(product.price)


admin.site.register(Customer)
admin.site.register(Cart, list_display=("id", "customer", "expires_at"))
admin.site.register(Invoice, list_display=("number", "order", "status", "sent_at"))
