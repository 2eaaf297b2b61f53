"""`manage.py relay_outbox`: the outbox relay, kept with the rest of the task plumbing."""

from core.tasking.relay import RelayOutboxCommand as Command

__all__ = ["Command"]
