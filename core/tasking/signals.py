"""Seed the periodic schedule after every migrate, so a fresh database has it without a manual step."""

from core.tasking.schedules import periodic_tasks_sync


def seed_periodic_tasks(sender, **kwargs):
    periodic_tasks_sync()
