"""Celery plumbing: the task policy, the outbox, dead letters, locks, the periodic schedule and the worker's guards."""
