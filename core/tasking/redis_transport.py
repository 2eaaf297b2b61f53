"""The Redis broker transport with one fix: a worker survives losing Redis while it holds unacknowledged
messages (countdown tasks, retries, prefetched work), and hands them back as soon as Redis is reachable again.
Upstream report: docs/upstream/kombu-restore-unacked-after-collect.md.

Why: on a lost connection Celery's consumer calls `Connection.collect()` and then `Connection.close()`. The
first close of the channel fails early (Redis is down) and leaves the channel open; collect then detaches the
transport (`transport.client = None`). The second close tries to requeue the held messages, builds a new
connection pool from `transport.client` and dies with AttributeError, which is no connection error, so it
escapes the consumer and kills the worker ("Unrecoverable error: ... 'hostname'").
"""

import logging
import os

from kombu.transport import redis

logger = logging.getLogger(__name__)

# Delivery tags this process held when its connection died. Their messages wait in Redis's unacked hash; the
# next channel requeues them rather than leaving them to the visibility timeout (an hour, plus the sweep).
_held_when_connection_died: set[str] = set()
# Pool children forked while the worker reconnects must not requeue them again: by then another worker may
# hold the same messages under the same tags.
os.register_at_fork(after_in_child=_held_when_connection_died.clear)


class QoS(redis.QoS):
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
        for tag in list(_held_when_connection_died):
            # To the head of its queue, as kombu restores at shutdown. A no-op for a tag whose message was
            # acknowledged or already restored by the visibility timeout.
            self.qos.restore_by_tag(tag)
            _held_when_connection_died.discard(tag)

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            # A collected connection cannot reach Redis: report it as the connection error it is.
            raise redis.redis.exceptions.ConnectionError("the broker connection was closed after it failed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
