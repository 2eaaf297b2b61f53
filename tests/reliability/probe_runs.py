"""Where the probe tasks record their runs, read by the tests. Kept apart from probe_tasks so a test process
never registers those tasks (the suite's shared worker does not know them)."""

from core.redis import redis_client

RUNS_KEY = "probe:runs"
STARTED_KEY = "probe:started"


def runs() -> list[str]:
    """Labels of the probe tasks that ran, sorted, one per run."""
    return sorted(item.decode() for item in redis_client().lrange(RUNS_KEY, 0, -1))


def reset() -> None:
    redis_client().delete(RUNS_KEY, STARTED_KEY)
