"""The README's "Background jobs" table is checked against the tasks the code registers, so it cannot drift."""

import re
import sys
from pathlib import Path

from django.apps import apps
from django.tasks import Task
from django.utils.module_loading import autodiscover_modules

from core.tasking.policy import PROFILES, TRANSIENT_ERRORS
from myproject.celery import app

README = Path(__file__).resolve().parents[2] / "README.md"


def registered_task_rows() -> dict[str, tuple[str, str, str]]:
    """Name → (queue, "soft s / hard s", retries) of every task an installed app's tasks module declares: Celery
    tasks by their name, django.tasks tasks as `<app>.<function>` with their queue profile's policy."""
    autodiscover_modules("tasks")
    task_modules = {f"{config.name}.tasks" for config in apps.get_app_configs()}
    django_tasks = {
        f"{module.split('.')[0]}.{name}": PROFILES[task.queue_name]
        for module in task_modules
        for name, task in vars(sys.modules.get(module) or object).items()
        if isinstance(task, Task) and task.func.__module__ == module
    }
    return {
        name: (profile.queue, f"{profile.soft_time_limit} s / {profile.time_limit} s", "transient")
        for name, profile in django_tasks.items()
    } | {
        name: (
            task.queue,
            f"{task.soft_time_limit} s / {task.time_limit} s",
            "transient" if tuple(task.autoretry_for) == TRANSIENT_ERRORS else "none",
        )
        for name, task in app.tasks.items()
        if task.__module__ in task_modules
    }


def readme_task_rows() -> dict[str, tuple[str, str, str]]:
    section = README.read_text().split("## Background jobs", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := re.match(r"\| `([a-z_]+\.[a-z_]+)\(.*?\)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", line):
            name, queue, limits, retries = (part.strip() for part in match.groups())
            assert name not in rows, f"{name} has two rows"
            rows[name] = (queue, limits, retries)
    return rows


def test_the_readme_table_lists_every_task_with_its_queue_limits_and_retries():
    # given the tasks the apps register, and the table a person reads
    registered, documented = registered_task_rows(), readme_task_rows()

    # then every task has exactly one row, and the row says what its queue profile says
    assert {"orders.send_invoice_email", "orders.export_orders_csv"} <= set(registered)  # Celery and django.tasks
    assert documented == registered
