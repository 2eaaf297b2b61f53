"""`manage.py check_queues`: each queue's depth against its threshold, kept with the rest of the operator side."""

from core.operations.queue_check import CheckQueuesCommand as Command

__all__ = ["Command"]
