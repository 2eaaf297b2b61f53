"""System checks: a task whose hard limit or retry delay reaches the visibility timeout would run twice."""

from celery import current_app as app
from django.conf import settings
from django.core import checks
from django.utils.module_loading import autodiscover_modules


@checks.register(checks.Tags.compatibility)
def visibility_timeout_covers_every_task(app_configs, **kwargs):
    autodiscover_modules("tasks")  # not import_default_modules: its Django fixup runs the checks again
    timeout = settings.CELERY_VISIBILITY_TIMEOUT
    errors = []
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue
        hard_limit = task.time_limit or app.conf.task_time_limit or 0
        longest_delay = getattr(task, "retry_backoff_max", 0) if getattr(task, "autoretry_for", ()) else 0
        for what, seconds in (("hard time limit", hard_limit), ("longest retry delay", longest_delay)):
            if seconds >= timeout:
                errors.append(
                    checks.Error(
                        f"{name}: {what} {seconds}s is not below CELERY_VISIBILITY_TIMEOUT {timeout}s.",
                        hint="Redis would redeliver the message while it still runs or waits.",
                        id="core.E001",
                    )
                )
    return errors
