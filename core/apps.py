"""App configuration for the cross-cutting core."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Background work"

    def ready(self):
        from django.db.models.signals import post_migrate

        from core.tasking import checks  # noqa: F401  (registers the system checks)
        from core.tasking.signals import seed_periodic_tasks

        post_migrate.connect(seed_periodic_tasks, sender=self)
