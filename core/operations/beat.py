"""Beat's scheduler: django-celery-beat's DatabaseScheduler, plus a heartbeat on every tick."""

import logging

from django_celery_beat.schedulers import DatabaseScheduler

from core.operations.health import BEAT_KEY, record_heartbeat

logger = logging.getLogger(__name__)


class HeartbeatDatabaseScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        try:
            record_heartbeat(BEAT_KEY, "beat")
        except Exception as exc:  # Redis down: beat keeps scheduling, /healthz reports the stale heartbeat
            logger.warning("beat heartbeat not recorded: %r", exc)
        return super().tick(*args, **kwargs)
