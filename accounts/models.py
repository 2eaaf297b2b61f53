"""Tables for contacts and the CSV imports that fill them."""

import uuid

from django.conf import settings
from django.db import models


class Contact(models.Model):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return f"{self.name} <{self.email}>"


def contact_import_path(_instance, _filename: str) -> str:
    # A generated name: the user's file name is kept in original_name, never used as a path.
    return f"contact_imports/{uuid.uuid4().hex}.csv"


class ContactImport(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        VALIDATING = "validating", "Validating"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # Emptied when the retention rule deletes the stored file (settings.CONTACT_IMPORT_RETENTION_DAYS).
    file = models.FileField(upload_to=contact_import_path, blank=True)
    original_name = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    # Saved with each batch in the batch's transaction, so a redelivered task resumes after the last batch.
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    failed_rows = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="contact_imports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the retention rule deleted the uploaded file and the error rows; the figures above stay.
    upload_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Import {self.pk} of {self.original_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}


class ContactImportError(models.Model):
    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="errors")
    # The row as a spreadsheet shows it: the header is row 1, the first contact row 2.
    row_number = models.PositiveIntegerField()
    email = models.CharField(max_length=254, blank=True)
    message = models.CharField(max_length=300)

    class Meta:
        ordering = ["contact_import", "row_number"]
