"""Every service of docker-compose.yml, run with its own command from the file as a local process against
the test database and Redis, does its job; a wrong command in the file fails here."""

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.models import OutboxMessage
from core.operations.health import queue_depths
from myproject.celery import app
from tests.factories import OrderFactory
from tests.support.embedded import free_port
from tests.support.processes import ROOT, ManagedProcess, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SHARED_ENV = COMPOSE["x-django-env"]
FLOWER_CREDENTIALS = "ops:compose-test-password"
WORKERS = ["worker-default", "worker-email", "worker-bulk"]


def service_command(service: str) -> list[str]:
    """The service's exec-form command, its executable resolved inside this virtualenv."""
    command = COMPOSE["services"][service]["command"]
    assert isinstance(command, list), f"{service}: command must be a list (exec form) so signals reach it"
    executable = sys.executable if command[0] == "python" else str(Path(sys.executable).parent / command[0])
    return [executable, *command[1:]]


def service_env(service: str, **overrides: str) -> dict[str, str]:
    """The test environment plus what the service sets beyond the shared block, then the test's overrides;
    the virtualenv's scripts come first on PATH, as the image's are."""
    own = {
        key: str(value)
        for key, value in COMPOSE["services"][service].get("environment", {}).items()
        if key not in SHARED_ENV
    }
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return process_env(PATH=path, **(own | overrides))


def option(service: str, flag: str) -> str:
    command = COMPOSE["services"][service]["command"]
    return command[command.index(flag) + 1]


def probe(kind: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.operations.probes", kind],
        cwd=ROOT,
        env=process_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def http_get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def answers(url: str) -> bool:
    try:
        http_get(url)
        return True
    except OSError:
        return False


@pytest.fixture
def start_service(process_logs, request):
    started: list[ManagedProcess] = []

    def start(service: str, **overrides: str) -> ManagedProcess:
        process = ManagedProcess(
            f"{request.node.name}-{service}", service_command(service), service_env(service, **overrides), process_logs
        )
        started.append(process)
        return process

    yield start
    # Side by side: a worker stopped as compose stops it waits out its soft shutdown, and beat its own stop.
    with concurrent.futures.ThreadPoolExecutor(max(len(started), 1)) as stopping:
        list(stopping.map(ManagedProcess.stop, started))


@pytest.fixture
def start_worker_service(start_service, tmp_path):
    def start(service: str, **overrides: str) -> tuple[ManagedProcess, Path]:
        heartbeats = tmp_path / service
        heartbeats.mkdir()
        # These tests check what a worker does, not how it stops (tests/reliability/test_timeouts.py and the
        # compose suite do): an idle worker would wait out compose's 30 s soft shutdown at every teardown.
        overrides = {"CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "1"} | overrides
        worker = start_service(service, HEARTBEAT_DIR=str(heartbeats), **overrides)
        worker.wait_for_output("ready.", timeout=90)
        return worker, heartbeats

    return start


def test_every_long_running_service_has_a_healthcheck():
    long_running = [name for name in COMPOSE["services"] if name != "migrate"]

    assert [name for name in long_running if "healthcheck" not in COMPOSE["services"][name]] == []


def test_django_services_start_only_after_migrate_succeeded():
    for name in ["web", *WORKERS, "beat", "relay"]:
        assert COMPOSE["services"][name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_flower_is_published_on_loopback_only():
    assert all(port.startswith("127.0.0.1:") for port in COMPOSE["services"]["flower"]["ports"])


def test_workers_get_longer_to_stop_than_their_soft_shutdown(settings):
    for name in WORKERS:
        grace = COMPOSE["services"][name]["stop_grace_period"]
        assert int(grace.removesuffix("s")) > settings.CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT


def test_migrate_exits_successfully(start_service):
    migrate = start_service("migrate")

    wait_until(lambda: not migrate.alive(), 120, "migrate never finished", None)

    assert migrate.process.returncode == 0, migrate.output()


def test_web_answers_healthz_with_its_json_report(start_service):
    port = str(free_port())
    web = start_service("web", WEB_PORT=port, WEB_CONCURRENCY="1", WEB_THREADS="2")
    healthz = f"http://127.0.0.1:{port}/healthz"

    wait_until(lambda: answers(healthz), 60, "web never answered", web)
    status, body = http_get(healthz)

    assert status == 200  # no worker or beat runs here: /healthz depends on web's own database only
    assert json.loads(body) == {"status": "ok"}
    assert probe("web", WEB_PORT=port).returncode == 0


@pytest.mark.parametrize("service", WORKERS)
def test_worker_answers_ping_and_runs_a_task_from_its_queue(service, start_worker_service):
    assert probe("worker", HEARTBEAT_DIR=str(Path("/nonexistent"))).returncode != 0
    worker, heartbeats = start_worker_service(service)
    node = option(service, "-n").replace("%h", socket.gethostname())

    # A busy machine can miss one ping's window; ask again until the worker answers.
    replies = wait_until(lambda: app.control.ping(destination=[node], timeout=5), 60, f"{node} never answered", worker)
    result = app.send_task("celery.accumulate", args=["ran on", service], queue=option(service, "-Q"))

    assert replies == [{node: {"ok": "pong"}}]
    worker.wait_for_output(f"Task celery.accumulate[{result.id}] succeeded", timeout=60)
    assert probe("worker", HEARTBEAT_DIR=str(heartbeats)).returncode == 0


def test_email_worker_sends_an_invoice(start_worker_service, mailsink):
    start_worker_service("worker-email")
    order = OrderFactory()

    app.send_task("orders.send_invoice_email", args=[order.pk], queue="email")

    wait_until(lambda: mailsink.to(order.customer.email), 60, "the invoice email never arrived")


def test_beat_sends_a_due_periodic_task_that_a_worker_runs(start_service, start_worker_service, mailsink, tmp_path):
    order = OrderFactory()
    PeriodicTask.objects.create(
        name="invoice every second",
        task="orders.send_invoice_email",
        args=json.dumps([order.pk]),
        queue="email",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS),
    )
    start_worker_service("worker-email")

    beat = start_service("beat", HEARTBEAT_DIR=str(tmp_path))

    wait_until(lambda: mailsink.to(order.customer.email), 60, "beat's task never ran", beat)
    assert PeriodicTask.objects.get(name="invoice every second").total_run_count >= 1
    wait_until(
        lambda: probe("beat", HEARTBEAT_DIR=str(tmp_path)).returncode == 0, 30, "beat's probe never passed", beat
    )


def test_flower_answers_healthcheck_and_requires_its_credentials(start_service):
    port = str(free_port())
    flower = start_service("flower", FLOWER_PORT=port, FLOWER_BASIC_AUTH=FLOWER_CREDENTIALS)
    base = f"http://127.0.0.1:{port}/"

    wait_until(lambda: answers(base + "healthcheck"), 60, "flower never answered", flower)

    assert http_get(base + "healthcheck") == (200, b"OK")
    assert http_get(base)[0] == 401
    token = b64encode(FLOWER_CREDENTIALS.encode()).decode()
    assert http_get(base, {"Authorization": f"Basic {token}"})[0] == 200
    assert probe("flower", FLOWER_PORT=port).returncode == 0


def test_relay_publishes_an_outbox_message_left_unpublished(start_service, no_shared_worker):
    order = OrderFactory()
    app.control.purge()  # leftovers of earlier tests; works on Redis and RabbitMQ alike
    message = OutboxMessage.objects.create(task_name="orders.send_invoice_email", queue="email", args=[order.pk])
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert probe("relay").returncode != 0  # a message waiting this long means no relay runs

    relay = start_service("relay")

    wait_until(
        lambda: OutboxMessage.objects.filter(pk=message.pk, published_at__isnull=False).exists(),
        60,
        "the relay never published the message",
        relay,
    )
    assert queue_depths()["email"] == 1
    assert probe("relay").returncode == 0
