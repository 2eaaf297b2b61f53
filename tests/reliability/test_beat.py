"""Beat mistakes: two beat processes at once, and a beat killed right after sending, never double a
periodic job's effect; the daily digest stays one email per subscriber and day."""

import json
import signal

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.notifications.factories import SubscriberFactory
from tests.reliability.conftest import digest_batches_in_flight
from tests.support.processes import ManagedProcess, celery_command, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

DIGEST_RUN = "Task notifications.send_daily_digest["


def start_beat(process_logs, name: str) -> ManagedProcess:
    beat = ManagedProcess(name, celery_command("beat", "--loglevel", "INFO"), process_env(), process_logs)
    beat.wait_for_output("beat: Starting", timeout=60)
    return beat


def test_two_beats_and_a_killed_beat_never_double_the_digest(live_worker, mailsink, process_logs):
    # given subscribers, and the day's digest scheduled every 2 seconds (a stand-in for 08:00 daily)
    subscribers = SubscriberFactory.create_batch(3)
    PeriodicTask.objects.create(
        name="reliability: digest every 2 s",
        task="notifications.send_daily_digest",
        queue="bulk",
        interval=IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS),
        kwargs=json.dumps({"day": "2026-11-21"}),
    )
    runs_before = live_worker.output().count(DIGEST_RUN)

    # when two beat processes run by accident, and one is SIGKILLed right after sending and restarted
    beats = [start_beat(process_logs, "beat-1"), start_beat(process_logs, "beat-2")]
    try:
        for beat in beats:
            beat.wait_for_output("Sending due task reliability: digest every 2 s", timeout=60)
        beats[0].signal(signal.SIGKILL)
        beats[0].stop()
        beats[0] = start_beat(process_logs, "beat-1-restarted")
        beats[0].wait_for_output("Sending due task reliability: digest every 2 s", timeout=60)
        wait_until(
            lambda: live_worker.output().count(DIGEST_RUN) - runs_before >= 2 * 4,
            60,
            "the digest was not fired again and again",
            live_worker,
        )
    finally:
        for beat in beats:
            beat.stop()

    # then, once every fired run and its batches are done, each subscriber has one digest
    for subscriber in subscribers:
        wait_until(
            lambda subscriber=subscriber: mailsink.to(subscriber.email), 60, "a digest never arrived", live_worker
        )
    wait_until(lambda: digest_batches_in_flight(live_worker.output()) == 0, 60, "batches never ran", live_worker)
    assert [len(mailsink.to(subscriber.email)) for subscriber in subscribers] == [1, 1, 1]
