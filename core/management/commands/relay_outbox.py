"""`manage.py relay_outbox`: the outbox relay, kept with the rest of the task plumbing."""

from core.operations.tracing import tracing_flush, tracing_init
from core.tasking.relay import RelayOutboxCommand


class Command(RelayOutboxCommand):
    def handle(self, *args, **options):
        tracing_init("relay")
        try:
            super().handle(*args, **options)
        finally:
            tracing_flush()
