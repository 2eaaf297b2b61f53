"""Beat mistakes: a second beat process sends nothing while the first lives and takes over when it dies; the
daily digest stays one email per subscriber and day."""

import json
import signal
import time

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.notifications.factories import SubscriberFactory
from tests.reliability.conftest import digest_batches_in_flight
from tests.support.processes import ManagedProcess, celery_command, process_env, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_shared_beat")]

SENDING = "Sending due task reliability: digest every 2 s"
STANDING_BY = "another beat holds the beat lock; standing by"


def start_beat(process_logs, name: str) -> ManagedProcess:
    beat = ManagedProcess(name, celery_command("beat", "--loglevel", "INFO"), process_env(), process_logs)
    beat.wait_for_output("beat: Starting", timeout=60)
    return beat


def test_a_second_beat_sends_nothing_until_the_first_dies(live_worker, mailsink, process_logs):
    # given subscribers, and the day's digest scheduled every 2 seconds (a stand-in for 08:00 daily)
    subscribers = SubscriberFactory.create_batch(3)
    PeriodicTask.objects.create(
        name="reliability: digest every 2 s",
        task="notifications.send_daily_digest",
        queue="bulk",
        interval=IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS),
        kwargs=json.dumps({"day": "2026-11-21"}),
    )

    # when a second beat is started beside the first by accident
    leader = start_beat(process_logs, "beat-1")
    beats = [leader]
    try:
        leader.wait_for_output(SENDING, timeout=60)
        standby = start_beat(process_logs, "beat-2")
        beats.append(standby)
        standby.wait_for_output(STANDING_BY, timeout=60)
        sent_by_leader = leader.output().count(SENDING)
        wait_until(lambda: leader.output().count(SENDING) >= sent_by_leader + 3, 60, "beat-1 stopped sending", leader)
        # then only the first sends, through several of the task's periods
        assert SENDING not in standby.output()

        # when the first is SIGKILLed, the second takes over; a restarted first stands by
        leader.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        leader.stop()
        standby.wait_for_output(SENDING, timeout=60)
        print(f"\nbeat-2 sent {time.monotonic() - killed_at:.1f} s after beat-1 was SIGKILLed")
        restarted = start_beat(process_logs, "beat-1-restarted")
        beats.append(restarted)
        restarted.wait_for_output(STANDING_BY, timeout=60)
        sent_by_standby = standby.output().count(SENDING)
        wait_until(
            lambda: standby.output().count(SENDING) >= sent_by_standby + 3, 60, "beat-2 stopped sending", standby
        )
        assert SENDING not in restarted.output()
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
