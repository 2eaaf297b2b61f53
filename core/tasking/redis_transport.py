"""The Redis broker transport, with one fix and three savings for a worker's main process.

The fix: a worker survives losing Redis while it holds unacknowledged messages (countdown tasks, retries,
prefetched work), and hands them back as soon as Redis is reachable again (upstream report:
docs/upstream/kombu-restore-unacked-after-collect.md). On a lost connection Celery's consumer calls
`Connection.collect()` and then `Connection.close()`. The first close of the channel fails early (Redis is down)
and leaves the channel open; collect then detaches the transport (`transport.client = None`). The second close
tries to requeue the held messages, builds a new connection pool from `transport.client` and dies with
AttributeError, which is no connection error, so it escapes the consumer and kills the worker ("Unrecoverable
error: ... 'hostname'").

The savings (BENCHMARKS.md, docs/upstream/kombu-redis-acks-in-batches.md): acknowledgements are sent together
every ACK_SEND_INTERVAL instead of one round trip each, and one client object serves the channel's commands.
An acknowledgement sent late is at worst a task run again after a crash, which every task already absorbs
(acks_late); a warm shutdown and a reconnect send the ones still unsent. And a delivered message's unacked
record no longer holds the event loop for its round trip: the record is sent, the loop goes on with other work,
and the message is handed on when Redis has confirmed it, exactly as late as before but without the wait.
"""

import collections
import contextlib
import functools
import logging
import os
import time

from kombu.transport import redis, virtual
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

# Delivery tags this process held when its connection died. Their messages wait in Redis's unacked hash; the
# next channel requeues them rather than leaving them to the visibility timeout (an hour, plus the sweep).
_held_when_connection_died: set[str] = set()
# Pool children forked while the worker reconnects must not requeue them again: by then another worker may
# hold the same messages under the same tags.
os.register_at_fork(after_in_child=_held_when_connection_died.clear)


# Acknowledgements a worker's event loop sends to Redis together, at most this long after the first of them.
ACK_SEND_INTERVAL = 0.01  # seconds
# Acknowledged tags whose removal from the unacked hash failed with the connection: the next channel sends it.
_acks_unsent_when_connection_died: set[str] = set()
os.register_at_fork(after_in_child=_acks_unsent_when_connection_died.clear)


class QoS(redis.QoS):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._acks_unsent: list[str] = []
        self._acks_send_timer = None
        # Deliveries whose unacked record was sent and not yet confirmed, oldest first: what to do once it is.
        self._records_unconfirmed: collections.deque = collections.deque()
        self._records_connection = self._records_fd = None

    def append_then(self, message, delivery_tag, then) -> None:
        """Record the delivery in Redis's unacked set as `append` does, and call `then` once Redis confirmed
        it, from the event loop, which meanwhile goes on with other work instead of waiting for the reply."""
        connection = self._records_connection_registered()
        prefix = self.channel.global_keyprefix or ""
        delivery = message.delivery_info
        record = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        commands = [
            ("MULTI",),
            ("ZADD", prefix + self.unacked_index_key, time.time(), delivery_tag),
            ("HSET", prefix + self.unacked_key, delivery_tag, record),
            ("EXEC",),
        ]
        with self._records_connection_failing():
            # No health check on send: its PING would read the reply of a record before it.
            connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        virtual.QoS.append(self, message, delivery_tag)  # the prefetch slot is taken now
        self._records_unconfirmed.append(then)

    def _records_connection_registered(self):
        # A connection of its own: the replies waiting on it must not reach another command's reader.
        if self._records_connection is None:
            connection = self.channel.pool.make_connection()
            connection.connect()
            self._records_fd = connection._sock.fileno()
            self.channel.connection.loop.add_reader(self._records_fd, self.records_confirmed)
            self._records_connection = connection
        return self._records_connection

    def records_confirmed(self) -> None:
        """The event loop's reader: hands on each message whose record Redis has confirmed."""
        if self._records_connection is None:
            return  # dropped earlier in this turn of the loop
        with self._records_connection_failing():
            while self._records_connection.can_read(timeout=0):
                if not self._records_unconfirmed:
                    raise redis.redis.exceptions.ConnectionError("Redis replied to no unacked record")
                self._read_record_replies()
                self._records_unconfirmed.popleft()()

    def _read_record_replies(self) -> None:
        for _reply in ("OK", "QUEUED", "QUEUED", "EXEC"):  # MULTI, ZADD and HSET queued, EXEC
            self._records_connection.read_response()

    @contextlib.contextmanager
    def _records_connection_failing(self):
        try:
            yield
        except redis.redis.exceptions.ResponseError as exc:
            # Out of step with its replies: the consumer reconnects and restores the messages held.
            self._records_connection_dropped()
            raise redis.redis.exceptions.ConnectionError(f"an unacked record failed: {exc}") from exc
        except self.channel.connection_errors:
            self._records_connection_dropped()
            raise

    def _records_connection_dropped(self) -> None:
        connection, self._records_connection = self._records_connection, None
        if connection is not None:
            self.channel.connection.loop.remove_reader(self._records_fd)
            connection.disconnect()

    def records_closed(self) -> None:
        """Waits for the records sent, so that the messages restored from them are all there; hands on none."""
        if self._records_connection is not None:
            with contextlib.suppress(*self.channel.connection_errors), self._records_connection_failing():
                while self._records_unconfirmed:
                    self._read_record_replies()
                    self._records_unconfirmed.popleft()
        self._records_unconfirmed.clear()
        self._records_connection_dropped()

    def ack(self, delivery_tag):
        loop = self.channel.connection.loop
        if loop is None:  # no event loop to send them later (a producer, `celery call`)
            return super().ack(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # the prefetch slot is free now
        self._acks_unsent.append(delivery_tag)
        if self._acks_send_timer is None:
            self._acks_send_timer = loop.call_later(ACK_SEND_INTERVAL, self.send_acks)

    def release(self, delivery_tag) -> None:
        """Frees the message's prefetch slot; another process acknowledges it (core.tasking.finished_marks)."""
        virtual.QoS.ack(self, delivery_tag)

    def acknowledge_now(self, tags: list[str]) -> None:
        """Acknowledges messages another process delivered (core.tasking.finished_marks), in one pipeline."""
        self._acks_unsent.extend(tags)
        self.send_acks()

    def send_acks(self) -> None:
        self._acks_send_timer = None
        tags, self._acks_unsent = self._acks_unsent, []
        if not tags:
            return
        try:
            with self.pipe_or_acquire() as pipe:
                pipe.zrem(self.unacked_index_key, *tags).hdel(self.unacked_key, *tags).execute()
        except self.channel.connection_errors:
            _acks_unsent_when_connection_died.update(tags)
            raise

    def restore_unacked(self, client=None):
        held = list(self._delivered)
        try:
            self.records_closed()
            super().restore_unacked(client)
        except self.channel.connection_errors:
            _held_when_connection_died.update(held)
            raise


class Channel(redis.Channel):
    QoS = QoS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # pings Redis: it is reachable from here on
        if _held_when_connection_died:
            logger.info("requeuing %d message(s) held when the broker connection died", len(_held_when_connection_died))
        if _acks_unsent_when_connection_died:
            self.qos._acks_unsent.extend(_acks_unsent_when_connection_died)
            _acks_unsent_when_connection_died.clear()
            self.qos.send_acks()
        for tag in list(_held_when_connection_died):
            # To the head of its queue, as kombu restores at shutdown. A no-op for a tag whose message was
            # acknowledged or already restored by the visibility timeout.
            self.qos.restore_by_tag(tag)
            _held_when_connection_died.discard(tag)

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        consumed = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        if not no_ack:
            self.connection._callbacks[queue] = functools.partial(self._deliver_once_recorded, callback)
        return consumed

    def _deliver_once_recorded(self, callback, raw_message):
        message = self.Message(raw_message, channel=self)
        if self.connection.loop is None or self.connection.cycle._in_protected_read:
            # Read outside a worker's event loop (drain_events): nothing would read the reply later.
            self.qos.append(message, message.delivery_tag)
            return callback(message)
        return self.qos.append_then(message, message.delivery_tag, functools.partial(callback, message))

    def close(self):
        if self._qos is not None:
            # A warm shutdown's last acknowledgements: unsent, their tasks would run again after it.
            with contextlib.suppress(*self.connection_errors):
                self._qos.send_acks()
        super().close()

    _sync_client = _sync_client_pool = None

    def _create_client(self, asynchronous=False):
        # kombu builds a client object for every acknowledgement and every delivery's unacked record: on a busy
        # worker a tenth of its main process. One per connection pool serves them all.
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._sync_client_pool is not self.pool:
            self._sync_client, self._sync_client_pool = super()._create_client(), self.pool
        return self._sync_client

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            # A collected connection cannot reach Redis: report it as the connection error it is.
            raise redis.redis.exceptions.ConnectionError("the broker connection was closed after it failed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
    loop = None

    def register_with_event_loop(self, connection, loop):
        self.loop = loop
        super().register_with_event_loop(connection, loop)
