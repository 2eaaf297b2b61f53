"""Redis locks that keep a job from overlapping with its own next run."""

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError

from core.redis import redis_client


@contextmanager
def nonoverlapping(name: str, *, timeout: int) -> Iterator[bool]:
    """Yield True when this caller holds the lock; the lock expires after `timeout` seconds if its holder dies."""
    lock = redis_client().lock(f"lock:{name}", timeout=timeout, blocking=False)
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:  # expired while held: the timeout was too short, nothing left to release
                pass
