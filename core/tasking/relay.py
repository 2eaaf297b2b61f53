"""The relay: publishes outbox messages whose on-commit publish failed (the broker was down at commit time);
hourly it forgets published messages and jobs older than a week. `manage.py relay_outbox` is this command."""

import logging
import signal
import time

from django.core.management.base import BaseCommand

from core.tasking import jobs, outbox

logger = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600


class RelayOutboxCommand(BaseCommand):
    help = "Relay unpublished outbox messages to the broker until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds when idle")
        parser.add_argument("--once", action="store_true", help="relay what is pending, then exit")

    def handle(self, *args, interval: float, once: bool, **options):
        self.running = True
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        last_purge = 0.0
        logger.info("outbox relay started")
        while self.running:
            sent = outbox.relay_pending()
            if sent:
                logger.info("relayed %d outbox message(s)", sent)
            if once and not sent:
                break
            if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                outbox.purge_published()
                jobs.jobs_purge()
                last_purge = time.monotonic()
            if not sent:
                time.sleep(interval)
        logger.info("outbox relay stopped")

    def stop(self, *_):
        self.running = False
