"""Redis locks that keep a job from overlapping with its own next run."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError

from core.redis import redis_client

logger = logging.getLogger(__name__)


@contextmanager
def nonoverlapping(name: str, *, timeout: int) -> Iterator[bool]:
    """Yield True when this caller holds the lock; the lock expires after `timeout` seconds if its holder dies.

    Redis unreachable raises ConnectionError: whether the job overlaps is unknown, so the task retries it
    (core.tasking.policy.TRANSIENT_ERRORS) rather than run unguarded or fail for good."""
    lock = redis_client().lock(f"lock:{name}", timeout=timeout, blocking=False)
    try:
        acquired = lock.acquire(blocking=False)
    except RedisError as exc:
        raise ConnectionError(f"lock {name} not taken, Redis unreachable: {exc!r}") from exc
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:  # expired while held: the timeout was too short, nothing left to release
                pass
            except RedisError as exc:  # the work is done; the lock expires by itself
                logger.warning("lock %s not released, Redis unreachable: %r", name, exc)
