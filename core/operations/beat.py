"""Beat's scheduler: django-celery-beat's DatabaseScheduler that sends only while it holds the beat lock, and
records a heartbeat on every tick it leads."""

import contextlib
import datetime
import logging

from django import db
from django_celery_beat.schedulers import DatabaseScheduler

from core.operations.health import BEAT_KEY, heartbeat_file, record_heartbeat

logger = logging.getLogger(__name__)

# Any fixed number: PostgreSQL advisory locks are per database, so this means "the beat of this database".
BEAT_LOCK_KEY = 6_020_261_129
# How often a standing-by beat asks for the lock: the longest a periodic task waits after the leader died.
STANDBY_POLL_SECONDS = 5


class BeatLock:
    """A PostgreSQL session advisory lock on a connection of its own (not Django's, which beat closes and reopens
    between ticks). The server holds it while the session lives and drops it the moment the process dies, so a
    standby takes over with no expiry to tune and no way for two live beats to both hold it."""

    def __init__(self):
        self.connection = None

    def hold(self) -> bool:
        """Whether this process holds the lock now: takes it when free, confirms the session when already held."""
        try:
            if self.connection is not None:
                with self.connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return True
            self.connection = db.connections.create_connection(db.DEFAULT_DB_ALIAS)
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
                [acquired] = cursor.fetchone()
        except db.Error as exc:
            logger.warning("beat lock: database unreachable (%r); sending nothing until it answers", exc)
            acquired = False
        if not acquired:
            self.release()
        return acquired

    def release(self) -> None:
        if self.connection is not None:
            # Unlocked before the close: the server ends a closed session a moment later, and a standby asking
            # in that moment would find the lock still held. A broken session holds nothing.
            with contextlib.suppress(db.Error), self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_all()")
            with contextlib.suppress(db.Error):
                self.connection.close()
            self.connection = None


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    """Two beats never both send: one holds the lock and leads, any other stands by and takes over only when the
    leader's database session is gone."""

    def __init__(self, *args, **kwargs):
        self.lock = BeatLock()
        self.leading = None  # unknown until the first tick
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self.lock.hold():
            if self.leading is not False:
                logger.warning("beat: another beat holds the beat lock; standing by, sending nothing")
            self.leading = False
            # Alive for its liveness probe; the heartbeat that says periodic tasks are being sent is the leader's.
            heartbeat_file("beat").touch()
            return STANDBY_POLL_SECONDS
        if not self.leading:
            logger.info("beat: holds the beat lock; sending due tasks")
            if self.leading is False:
                self.reload_schedule()
            self.leading = True
        try:
            record_heartbeat(BEAT_KEY, "beat")
        except Exception as exc:  # Redis down: beat keeps scheduling, /healthz reports the stale heartbeat
            logger.warning("beat heartbeat not recorded: %r", exc)
        return super().tick(*args, **kwargs)

    def reload_schedule(self) -> None:
        """A beat that stood by holds entries as it last read them: reread them, with the last runs the leader
        saved, so it does not send again what the leader sent. Its own unsaved runs (from before it lost the lock)
        are dropped rather than written over the leader's."""
        self._dirty.clear()
        self._last_full_sync = datetime.datetime.min  # makes the next read of `schedule` a full reread

    def close(self):
        super().close()
        self.lock.release()
