"""Admin for contacts and their imports: operators look, imports themselves run only from an upload."""

from django.contrib import admin

from accounts.models import Contact, ContactImport, ContactImportError


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("email", "name", "company", "phone", "updated_at")
    search_fields = ("email", "name", "company")


class ContactImportErrorInline(admin.TabularInline):
    model = ContactImportError
    fields = ("row_number", "email", "message")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "status",
        "processed",
        "total_rows",
        "created",
        "updated",
        "failed_rows",
        "created_at",
    )
    list_filter = ("status",)
    readonly_fields = [field.name for field in ContactImport._meta.fields]
    inlines = [ContactImportErrorInline]

    def has_add_permission(self, request):
        return False
