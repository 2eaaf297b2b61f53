"""A worker's main process records each delivered message in Redis's unacked set without waiting for the reply
(core.tasking.redis_transport): the message is still handed on only once Redis has confirmed its record, and a
message whose record is unconfirmed when Redis dies or the worker stops is not lost."""

import time

import pytest
import redis
from kombu import Queue

from tests.reliability.conftest import redis_broker_only
from tests.support.processes import wait_until

pytestmark = redis_broker_only

QUEUE = "records-test"


@pytest.fixture
def consuming(private_redis, worker_connection):
    """Messages published to QUEUE and a consumer on the worker connection; yields the loop to drive, the
    numbers handed on, with whether Redis held each one's record at that moment, and a client on Redis."""
    connection, hub = worker_connection
    broker = redis.Redis(port=private_redis.port)
    handed_on = []

    def on_message(body, message):
        handed_on.append((body["number"], bool(broker.hexists("unacked", message.delivery_tag))))

    def publish(count: int) -> None:
        with connection.Producer() as producer:
            for number in range(count):
                producer.publish({"number": number}, routing_key=QUEUE, declare=[Queue(QUEUE)])

    consumer = connection.Consumer(Queue(QUEUE), callbacks=[on_message], accept=["json"])
    yield publish, consumer, hub.create_loop(), handed_on, broker
    consumer.cancel()


def turn_until_delivered(loop, broker) -> None:
    """Turns of the event loop until the message left the queue: its record is sent in that same turn."""
    deadline = time.monotonic() + 5
    while broker.llen(QUEUE):
        assert time.monotonic() < deadline, "the message was never delivered"
        next(loop)


def test_each_message_is_handed_on_in_order_once_its_record_is_in_redis(consuming):
    publish, consumer, loop, handed_on, broker = consuming
    publish(5)
    consumer.consume()

    deadline = time.monotonic() + 5
    while len(handed_on) < 5 and time.monotonic() < deadline:
        next(loop)

    assert handed_on == [(number, True) for number in range(5)]


def test_a_message_whose_record_redis_did_not_confirm_before_dying_is_not_handed_on_and_not_lost(
    private_redis, worker_connection, consuming
):
    # given a message delivered, its record sent and written to Redis's file, its reply not yet read
    connection, _hub = worker_connection
    publish, consumer, loop, handed_on, broker = consuming
    publish(1)
    consumer.consume()
    turn_until_delivered(loop, broker)
    wait_until(lambda: broker.hlen("unacked") == 1, 5, "the record never reached Redis")
    wait_until(private_redis.append_only_file_written, 5, "the record never reached the file")

    # when Redis dies before the worker read the reply
    private_redis.kill()

    # then the worker sees a lost connection, not a message to run, and Redis comes back holding the record that
    # the reconnect (or the visibility timeout) restores the message from
    with pytest.raises(connection.connection_errors):
        for _turn in range(10):
            next(loop)
    assert handed_on == []
    private_redis.start()
    assert broker.hlen("unacked") == 1


def test_a_message_whose_record_is_unconfirmed_when_the_worker_stops_goes_back_to_its_queue(
    worker_connection, consuming
):
    # given a message delivered, its record sent, its reply not yet read
    connection, _hub = worker_connection
    publish, consumer, loop, handed_on, broker = consuming
    publish(1)
    consumer.consume()
    turn_until_delivered(loop, broker)

    # when the worker stops (a warm shutdown closes its channel)
    connection.close()

    # then the message waits in its queue for the next worker, and nothing of it is left unacknowledged
    assert handed_on == []
    assert broker.llen(QUEUE) == 1
    assert broker.hlen("unacked") == 0
