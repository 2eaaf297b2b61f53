"""Tables for notifications: subscribers, newsletters and one delivery row per message sent to a subscriber."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Subscriber(models.Model):
    email = models.EmailField(unique=True)
    opted_in_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email

    @property
    def receives_mail(self) -> bool:
        return self.opted_in_at is not None and self.unsubscribed_at is None


class Newsletter(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SENDING = "sending"
        SENT = "sent"
        CANCELLED = "cancelled"

    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject


class Delivery(models.Model):
    """One message to one subscriber. Rows are written QUEUED at fan-out; the unique constraints make a
    second fan-out or a retried batch find the existing row instead of sending again."""

    class Kind(models.TextChoices):
        NEWSLETTER = "newsletter"
        DIGEST = "digest"

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"  # unsubscribed between fan-out and sending
        CANCELLED = "cancelled"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    newsletter = models.ForeignKey(
        Newsletter, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    digest_day = models.DateField(null=True, blank=True)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["newsletter", "subscriber"],
                condition=Q(kind="newsletter"),
                name="one_delivery_per_newsletter_and_subscriber",
            ),
            models.UniqueConstraint(
                fields=["digest_day", "subscriber"],
                condition=Q(kind="digest"),
                name="one_digest_per_day_and_subscriber",
            ),
            models.CheckConstraint(
                condition=Q(kind="newsletter", newsletter__isnull=False, digest_day__isnull=True)
                | Q(kind="digest", newsletter__isnull=True, digest_day__isnull=False),
                name="delivery_is_newsletter_or_digest",
            ),
        ]
        indexes = [models.Index(fields=["newsletter", "status"]), models.Index(fields=["digest_day", "status"])]

    def __str__(self) -> str:
        return f"{self.kind} to {self.subscriber_id}: {self.status}"
