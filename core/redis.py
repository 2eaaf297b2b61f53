"""One Redis client per process (and per timeout) for locks, heartbeats, metrics and health."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client(*, timeout: float | None = None) -> redis.Redis:
    """Connect and socket timeouts of settings.REDIS_TIMEOUT_SECONDS unless the caller needs a shorter one,
    so a frozen Redis fails its callers instead of hanging them."""
    seconds = timeout or settings.REDIS_TIMEOUT_SECONDS
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=seconds, socket_connect_timeout=seconds)
