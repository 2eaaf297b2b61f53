"""A worker's acknowledgements to Redis are sent together, a moment late (core.tasking.redis_transport): none is
lost when the channel closes or when Redis dies before they were sent, so no finished task runs again."""

import time

import pytest
import redis
from kombu import Connection

from core.tasking.redis_transport import ACK_SEND_INTERVAL, Transport
from tests.reliability.conftest import redis_broker_only
from tests.support.processes import wait_until

pytestmark = redis_broker_only


def consumed_and_acknowledged(connection: Connection, count: int) -> None:
    queue = connection.SimpleQueue("acks-test")
    for number in range(count):
        queue.put({"number": number})
    for _ in range(count):
        queue.get(timeout=5).ack()


def held(private_redis) -> int:
    return redis.Redis(port=private_redis.port).hlen("unacked")


def test_acknowledgements_are_sent_together_a_moment_later(private_redis, worker_connection):
    connection, hub = worker_connection

    consumed_and_acknowledged(connection, 3)
    assert held(private_redis) == 3, "acknowledged, not yet sent"

    time.sleep(ACK_SEND_INTERVAL)
    hub.fire_timers(propagate=connection.connection_errors)
    assert held(private_redis) == 0


def test_acknowledgements_not_yet_sent_are_sent_when_the_channel_closes(private_redis, worker_connection):
    # given messages acknowledged a moment before the worker stops
    connection, _hub = worker_connection
    consumed_and_acknowledged(connection, 3)

    # when it closes its connection (a warm shutdown), before their send was due
    connection.close()

    # then Redis holds none of them for redelivery
    assert held(private_redis) == 0


def test_acknowledgements_redis_lost_are_sent_once_it_is_back(private_redis, worker_connection):
    # given messages acknowledged while Redis was up, and written to its append-only file
    connection, hub = worker_connection
    consumed_and_acknowledged(connection, 3)
    wait_until(private_redis.append_only_file_written, 5, "the unacked records never reached the file")

    # when Redis dies before the acknowledgements were sent, and comes back from its file
    private_redis.kill()
    time.sleep(ACK_SEND_INTERVAL)
    with pytest.raises(connection.connection_errors):
        hub.fire_timers(propagate=connection.connection_errors)
    private_redis.start()
    assert held(private_redis) == 3, "Redis came back holding them, ready to redeliver"

    # then the worker's next channel sends them, so none of the finished tasks runs again
    with Connection(private_redis.url, transport=Transport) as reconnected:
        reconnected.connect()  # opens the channel, as a worker's reconnect does
        assert held(private_redis) == 0
