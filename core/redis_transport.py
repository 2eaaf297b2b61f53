"""The Redis broker transport with one fix: a worker survives losing Redis while it holds unacknowledged
messages (countdown tasks, retries, prefetched work). Upstream report: docs/upstream/kombu-restore-unacked-after-collect.md.

Why: on a lost connection Celery's consumer calls `Connection.collect()` and then `Connection.close()`. The
first close of the channel fails early (Redis is down) and leaves the channel open; collect then detaches the
transport (`transport.client = None`). The second close tries to requeue the held messages, builds a new
connection pool from `transport.client` and dies with AttributeError, which is no connection error, so it
escapes the consumer and kills the worker ("Unrecoverable error: ... 'hostname'").
"""

from kombu.transport import redis


class Channel(redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            # A collected connection cannot reach Redis: report it as the connection error it is. The held
            # messages stay in Redis's unacked set, and the visibility timeout hands them back.
            raise redis.redis.exceptions.ConnectionError("the broker connection was closed after it failed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(redis.Transport):
    Channel = Channel
