"""Redis bookkeeping shared by the bench tasks of the project worker and of the bare Celery app, so both
do exactly the same work per task."""

import os
import time

import redis

COUNT_KEY = "bench:done"
FIRST_KEY = "bench:first"
LAST_KEY = "bench:last"
START_DELAYS_KEY = "bench:start_delays"

_client = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _client


def record_done() -> None:
    now = time.time()
    pipe = client().pipeline(transaction=False)
    pipe.set(FIRST_KEY, now, nx=True)
    pipe.set(LAST_KEY, now)
    pipe.incr(COUNT_KEY)
    pipe.execute()


def record_start(sent_at: float) -> None:
    client().rpush(START_DELAYS_KEY, time.time() - sent_at)


def reset() -> None:
    client().delete(COUNT_KEY, FIRST_KEY, LAST_KEY, START_DELAYS_KEY)


def done_count() -> int:
    return int(client().get(COUNT_KEY) or 0)


def done_rate() -> float:
    """Tasks per second between the first and the last completion (worker start-up excluded)."""
    first, last, count = client().mget(FIRST_KEY, LAST_KEY, COUNT_KEY)
    elapsed = float(last) - float(first)
    return (int(count) - 1) / elapsed if elapsed > 0 else float("nan")


def start_delays() -> list[float]:
    return [float(value) for value in client().lrange(START_DELAYS_KEY, 0, -1)]
