"""core.tasking.locks with Redis out of reach: the job is retried, neither run unguarded nor failed for good."""

import pytest

from core.redis import redis_client
from core.tasking.locks import nonoverlapping
from core.tasking.policy import TRANSIENT_ERRORS
from tests.support.embedded import free_port


@pytest.fixture
def redis_unreachable(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    redis_client.cache_clear()
    yield
    redis_client.cache_clear()


def test_a_lock_that_cannot_reach_redis_raises_an_error_tasks_retry(redis_unreachable):
    with pytest.raises(ConnectionError) as raised, nonoverlapping("test-lock", timeout=10):
        pass

    assert isinstance(raised.value, TRANSIENT_ERRORS)
