"""Admin for orders, products and invoices."""

from django.contrib import admin

from orders.models import Cart, Customer, Invoice, Order, OrderItem, Product


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "status", "created_at")
    list_filter = ("status",)
    inlines = [OrderItemInline]


admin.site.register(Customer)
admin.site.register(Product, list_display=("sku", "name", "price", "stock"))
admin.site.register(Cart, list_display=("id", "customer", "expires_at"))
admin.site.register(Invoice, list_display=("number", "order", "status", "sent_at"))
