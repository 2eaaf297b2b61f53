"""Admin for dead letters (retry, resolve) and the outbox."""

from django.contrib import admin, messages

from core.deadletters import dead_letter_resolve, dead_letter_retry
from core.models import DeadLetter, OutboxMessage


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("task_name", "args", "exception", "attempts", "malformed", "first_seen", "last_seen", "resolved_at")
    list_filter = ("task_name", "malformed", "queue", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("task_name", "task_id", "exception", "raw_headers", "raw_body")
    readonly_fields = [field.name for field in DeadLetter._meta.fields]
    actions = ("retry", "resolve")

    @admin.action(description="Retry: enqueue again with the same arguments")
    def retry(self, request, queryset):
        retryable = queryset.filter(malformed=False)
        for letter in retryable:
            dead_letter_retry(letter=letter)
        messages.success(request, f"Re-enqueued {retryable.count()} task(s).")
        if unreadable := queryset.filter(malformed=True).count():
            messages.warning(request, f"Skipped {unreadable} unreadable message(s): nothing to run again; resolve them.")

    @admin.action(description="Resolve: mark as handled")
    def resolve(self, request, queryset):
        for letter in queryset:
            dead_letter_resolve(letter=letter)
        messages.success(request, f"Resolved {queryset.count()} dead letter(s).")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("task_name", "args", "created_at", "published_at", "attempts", "last_error")
    list_filter = ("task_name", ("published_at", admin.EmptyFieldListFilter))
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
