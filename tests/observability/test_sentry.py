"""Sentry from real processes: a task failing in a worker is reported with its name, and a periodic task
sent by beat reports cron check-ins."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.support.processes import ROOT, ManagedProcess, celery_command, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_task_reports_an_event_carrying_its_name(observed_worker, send_to_observed, sentry_sink):
    task_id = send_to_observed("orders.send_invoice_email", "not-an-order-id", queue="email")

    events = wait_until(
        lambda: [e for e in sentry_sink.of_type("event") if e.get("tags", {}).get("celery_task_id") == task_id],
        60,
        "no Sentry event for the failed task",
        observed_worker,
    )

    assert events[0]["transaction"] == "orders.send_invoice_email"
    assert events[0]["exception"]["values"][-1]["type"] == "ValueError"
    # The event can arrive before the worker has dead-lettered the task: let it finish inside this test.
    wait_until(lambda: f"[{task_id}] raised" in observed_worker.output(), 60, "the task never failed", observed_worker)


def test_a_periodic_task_reports_check_ins(observed_worker, sentry_sink, private_broker_url, process_logs):
    schedule = PeriodicTask.objects.create(
        name="results-cleanup-every-minute",  # Sentry's monitor slug
        task="celery.backend_cleanup",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES),
        last_run_at=timezone.now() - timedelta(minutes=5),  # due at once instead of in a minute
    )
    beat = ManagedProcess(
        "observed-beat",
        celery_command("beat", "--loglevel", "INFO", "--pidfile="),
        process_env(CELERY_BROKER_URL=private_broker_url, SENTRY_DSN=sentry_sink.dsn),
        process_logs,
    )
    try:
        check_ins = wait_until(
            lambda: (
                {c["status"] for c in sentry_sink.of_type("check_in") if c["monitor_slug"] == schedule.name}
                >= {"in_progress", "ok"}
                and True
            ),
            60,
            "beat and worker never checked in",
            beat,
        )
    finally:
        beat.stop()

    assert check_ins


def test_settings_turn_sentry_on_only_with_a_dsn(sentry_sink):
    probe = "import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"

    with_dsn = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=process_env(SENTRY_DSN=sentry_sink.dsn),
        timeout=60,
    )
    without = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=process_env(SENTRY_DSN=""),
        timeout=60,
    )

    assert with_dsn.stdout.split() == ["True"], with_dsn.stderr
    assert without.stdout.split() == ["False"], without.stderr
