"""App configuration for the cross-cutting core."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Background work"

    def ready(self):
        from celery import signals
        from django.db.models.signals import post_migrate

        from core.tasking import (
            checks,  # noqa: F401  (registers the system checks)
            django_tasks,  # noqa: F401  (registers the runners of django.tasks tasks with Celery)
            jobs,
        )
        from core.tasking.signals import seed_periodic_tasks

        post_migrate.connect(seed_periodic_tasks, sender=self)
        # In every process that publishes or runs tasks: web, workers, beat, management commands.
        signals.before_task_publish.connect(jobs.job_published, weak=False, dispatch_uid="core.tasking.jobs.published")
        signals.task_revoked.connect(jobs.job_revoked, weak=False, dispatch_uid="core.tasking.jobs.revoked")
