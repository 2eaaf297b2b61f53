"""Admin for dead letters (retry, resolve), the outbox, job rows, task results and the periodic tasks' schedules."""

from django import forms
from django.contrib import admin, messages
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.admin import GroupResultAdmin, TaskResultAdmin
from django_celery_results.models import GroupResult, TaskResult

from core.models import DeadLetter, Job, OutboxMessage
from core.tasking.deadletters import dead_letter_resolve, dead_letter_retry
from core.tasking.schedules import crontab_from_expression, crontab_schedule_for, shared_schedule_row


class WrittenBySystemAdmin(admin.ModelAdmin):
    """Rows only the system writes (a failed task, an enqueue, a result): staff look and act, never add."""

    def has_add_permission(self, request):
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(WrittenBySystemAdmin):
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
            messages.warning(
                request, f"Skipped {unreadable} unreadable message(s): nothing to run again; resolve them."
            )

    @admin.action(description="Resolve: mark as handled")
    def resolve(self, request, queryset):
        for letter in queryset:
            dead_letter_resolve(letter=letter)
        messages.success(request, f"Resolved {queryset.count()} dead letter(s).")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(WrittenBySystemAdmin):
    list_display = ("task_name", "args", "created_at", "published_at", "attempts", "last_error")
    list_filter = ("task_name", ("published_at", admin.EmptyFieldListFilter))
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]


@admin.register(Job)
class JobAdmin(WrittenBySystemAdmin):
    list_display = ("task_name", "args", "state", "attempt", "error", "worker", "queued_at", "updated_at")
    list_filter = ("state", "task_name")
    search_fields = ("id", "task_name", "subject_id", "error")
    readonly_fields = [field.name for field in Job._meta.fields]


admin.site.unregister(TaskResult)
admin.site.unregister(GroupResult)


@admin.register(TaskResult)
class TaskResultReadOnlyAdmin(WrittenBySystemAdmin, TaskResultAdmin):
    pass


@admin.register(GroupResult)
class GroupResultReadOnlyAdmin(WrittenBySystemAdmin, GroupResultAdmin):
    pass


class PeriodicTaskScheduleForm(PeriodicTaskForm):
    """Re-times a job in this one form: "every N units" or a cron line picks or creates the schedule row and
    clears the other kinds, which the library's form leaves to the person (a popup, then an error)."""

    EVERY, CRON, OTHER = "every", "cron", "other"
    runs = forms.ChoiceField(
        label="Runs",
        choices=[
            (EVERY, "Every N seconds, minutes, hours or days"),
            (CRON, "On a cron expression"),
            (OTHER, "On the schedule chosen under Other schedules"),
        ],
        widget=forms.RadioSelect,
        initial=CRON,
    )
    every = forms.IntegerField(label="Every", min_value=1, required=False, help_text="For example 15.")
    every_unit = forms.ChoiceField(
        label="Unit",
        choices=[
            (period, label)
            for period, label in IntervalSchedule.PERIOD_CHOICES
            if period != IntervalSchedule.MICROSECONDS
        ],
        initial=IntervalSchedule.MINUTES,
        required=False,
    )
    cron = forms.CharField(
        label="Cron expression",
        required=False,
        help_text="minute hour day-of-month month day-of-week, in the project's time zone; for example "
        '"*/15 * * * *" every quarter hour, "0 8 * * *" daily at 08:00, "0 6 * * mon-fri" on weekdays at 06:00.',
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = self.instance
        if task.interval_id:
            self.initial.update(runs=self.EVERY, every=task.interval.every, every_unit=task.interval.period)
        elif task.crontab_id:
            row = task.crontab
            fields = (row.minute, row.hour, row.day_of_month, row.month_of_year, row.day_of_week)
            self.initial.update(runs=self.CRON, cron=" ".join(fields))
        elif task.pk:
            self.initial.update(runs=self.OTHER)

    def clean(self):
        data = super().clean()
        runs = data.get("runs")
        if runs == self.EVERY:
            if not data.get("every"):
                self.add_error("every", "Say how often, for example 15.")
                return data
            # Schedule rows are shared between tasks, so picking an equal existing one is the norm.
            interval = shared_schedule_row(IntervalSchedule, every=data["every"], period=data["every_unit"])
            data.update(interval=interval, crontab=None, solar=None, clocked=None)
        elif runs == self.CRON:
            try:
                schedule = crontab_from_expression(data.get("cron", ""))
            except ValueError as error:
                self.add_error("cron", f"Not a cron expression: {error}")
                return data
            data.update(interval=None, crontab=crontab_schedule_for(schedule), solar=None, clocked=None)
        return data


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskScheduleAdmin(PeriodicTaskAdmin):
    form = PeriodicTaskScheduleForm
    # The library's template adds an inline script for its crontab popup help, which this form replaces.
    change_form_template = None
    fieldsets = (
        (None, {"fields": ("name", "regtask", "task", "enabled", "description")}),
        ("Schedule", {"fields": ("runs", ("every", "every_unit"), "cron", "start_time", "last_run_at", "one_off")}),
        ("Other schedules", {"fields": ("interval", "crontab", "solar", "clocked"), "classes": ("collapse",)}),
        ("Arguments", {"fields": ("args", "kwargs"), "classes": ("collapse",)}),
        (
            "Execution options",
            {
                "fields": ("expires", "expire_seconds", "queue", "exchange", "routing_key", "priority", "headers"),
                "classes": ("collapse",),
            },
        ),
    )
    readonly_fields = ("last_run_at",)
