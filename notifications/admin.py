"""Admin for notifications: find subscribers and see each delivery; newsletters are started from the staff page."""

from django.contrib import admin

from notifications.models import Delivery, Newsletter, Subscriber


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "opted_in_at", "unsubscribed_at"]
    list_filter = [("unsubscribed_at", admin.EmptyFieldListFilter)]
    search_fields = ["email"]


@admin.register(Newsletter)
class NewsletterAdmin(admin.ModelAdmin):
    list_display = ["subject", "status", "total", "created_by", "started_at", "finished_at"]
    list_filter = ["status"]
    # Status moves only through the services, so sending always goes through the outbox and the fan-out.
    readonly_fields = ["status", "total", "created_by", "started_at", "finished_at"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "kind", "newsletter", "digest_day", "status", "sent_at"]
    list_filter = ["kind", "status", "digest_day"]
    search_fields = ["subscriber__email"]
    list_select_related = ["subscriber", "newsletter"]
    readonly_fields = [field.name for field in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False  # a delivery row is written by the fan-out, one per message sent
