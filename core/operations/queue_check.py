"""Report each queue's depth against its threshold (settings.QUEUE_DEPTH_THRESHOLDS); exit 1 when one is
over, so cron, a CI job or a container probe can alert on it; `manage.py check_queues` is this command."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from core.operations.health import queue_depths


class CheckQueuesCommand(BaseCommand):
    help = "Print every queue's depth and threshold; exit code 1 when any queue is over its threshold."

    def handle(self, *args, **options):
        over = []
        for queue, depth in sorted(queue_depths().items()):
            threshold = settings.QUEUE_DEPTH_THRESHOLDS.get(queue)
            crossed = threshold is not None and depth > threshold
            verdict = "OVER" if crossed else "ok"
            self.stdout.write(f"{queue}: {depth} waiting, threshold {threshold} {verdict}")
            if crossed:
                over.append(queue)
        if over:
            self.stderr.write(f"queues over threshold: {', '.join(over)}")
            sys.exit(1)
