"""Sentry for web, workers and beat: errors with the request or task that raised them, and cron check-ins
for every periodic task. Called from settings, which all three processes load."""

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.redis import RedisIntegration


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        # Customer emails and addresses stay out of error reports.
        send_default_pii=False,
        integrations=[
            DjangoIntegration(),
            # Beat tags each periodic message, the worker reports it started/finished: a missed or failing
            # schedule shows in Sentry Crons without a monitor set up by hand.
            CeleryIntegration(monitor_beat_tasks=True),
            RedisIntegration(),
        ],
    )
