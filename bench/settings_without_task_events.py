"""The project's settings with task events off: only to price what Flower's events cost a worker."""

from myproject.settings import *  # noqa: F403

CELERY_WORKER_SEND_TASK_EVENTS = False
