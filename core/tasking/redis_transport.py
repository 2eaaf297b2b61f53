"""The Redis broker transport, with one fix and two savings for a worker's main process.

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
(acks_late); a warm shutdown and a reconnect send the ones still unsent.
"""

import contextlib
import logging
import os

from kombu.transport import redis, virtual

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

    def ack(self, delivery_tag):
        loop = self.channel.connection.loop
        if loop is None:  # no event loop to send them later (a producer, `celery call`)
            return super().ack(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # the prefetch slot is free now
        self._acks_unsent.append(delivery_tag)
        if self._acks_send_timer is None:
            self._acks_send_timer = loop.call_later(ACK_SEND_INTERVAL, self.send_acks)

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
