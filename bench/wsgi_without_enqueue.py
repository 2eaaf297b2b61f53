"""The product's WSGI application with `core.tasking.outbox.enqueue` made a no-op: the baseline that prices the
enqueue (outbox row + publish after commit) of the very same view, middleware and database write."""

from myproject.wsgi import application  # noqa: F401  (sets Django up)

# isort: split
from core.tasking import outbox  # after Django is set up: it imports models


def enqueue_skipped(task, *args, **kwargs) -> str:
    return ""


outbox.enqueue = enqueue_skipped
