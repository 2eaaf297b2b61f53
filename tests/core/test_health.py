"""/healthz tells a load balancer whether this web process can serve; /healthz/system tells staff (or the
metrics token) the state of the whole system."""

import os

import pytest
import redis

from core.operations import probes
from core.operations.health import BEAT_KEY, WORKER_KEY_PREFIX, heartbeat_file, record_heartbeat
from tests.factories import StaffFactory, UserFactory
from tests.support.embedded import free_port

# A Redis of each test's own: the suite's workers and beat, which may be running, write no heartbeats and
# take no messages there, and the heartbeats written here do not outlive the test.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_of_this_test")]

TOKEN = "health-token-for-tests"


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_healthz_is_ok_without_workers_or_beat_and_reveals_nothing(client):
    # given no worker and no beat heartbeat: a dead beat must not take web out of the load balancer
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_fails_when_the_database_does_not_answer(client, settings):
    from django.db import connection

    # given a database connection that cannot reach its server
    connection.close()
    real_port = connection.settings_dict["PORT"]
    connection.settings_dict["PORT"] = "1"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port

    assert response.status_code == 503
    assert response.json() == {"status": "failing"}


def test_system_health_is_for_staff_or_the_metrics_token_only(client, settings):
    settings.METRICS_TOKEN = TOKEN

    assert client.get("/healthz/system")["Location"].startswith("/login/")
    assert client.get("/healthz/system", headers={"Authorization": "Bearer wrong"}).status_code == 403
    client.force_login(UserFactory())
    assert client.get("/healthz/system").status_code == 404
    client.logout()
    assert client.get("/healthz/system", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 503


def test_system_health_names_missing_workers_beat_and_every_queue_without_a_consumer(staff_client):
    response = staff_client.get("/healthz/system")

    assert response.status_code == 503
    body = response.json()
    assert set(body["failed"]) == {"workers", "beat", "queues_without_consumer"}
    assert body["queues_without_consumer"] == ["default", "email", "bulk"]
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert set(body["queues"]) == {"default", "email", "bulk"}


def test_system_health_names_the_queue_no_live_worker_consumes(staff_client):
    # given beat and two workers alive, but none consuming "bulk"
    record_heartbeat(WORKER_KEY_PREFIX + "default@test", "worker", queues=["default"])
    record_heartbeat(WORKER_KEY_PREFIX + "email@test", "worker", queues=["email"])
    record_heartbeat(BEAT_KEY, "beat")

    response = staff_client.get("/healthz/system")

    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["queues_without_consumer"] and body["queues_without_consumer"] == ["bulk"]
    assert body["workers"] == {"default@test": ["default"], "email@test": ["email"]}


def test_system_health_is_200_when_every_queue_has_a_consumer_and_beat_is_fresh(staff_client):
    record_heartbeat(WORKER_KEY_PREFIX + "all@test", "worker", queues=["bulk", "default", "email"])
    record_heartbeat(BEAT_KEY, "beat")

    response = staff_client.get("/healthz/system")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["queues_without_consumer"] == []
    assert 0 <= body["beat_heartbeat_age_seconds"] < 5


def test_system_health_counts_waiting_messages_per_queue(staff_client):
    from myproject.celery import app

    app.send_task("orders.send_invoice_email", args=[1], queue="bulk")

    assert staff_client.get("/healthz/system").json()["queues"]["bulk"] == 1


def test_a_heartbeat_with_redis_down_still_tells_the_liveness_probe_the_process_runs(settings, tmp_path, monkeypatch):
    # given a process whose heartbeat file is old, and a Redis that does not answer
    monkeypatch.setattr("core.operations.health.HEARTBEAT_FILE_DIR", tmp_path)
    stale = heartbeat_file("worker")
    stale.touch()
    os.utime(stale, (0, 0))
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens

    # when it records its heartbeat, the Redis half fails
    with pytest.raises(redis.ConnectionError):
        record_heartbeat(WORKER_KEY_PREFIX + "email@test", "worker", queues=["email"])

    # then the liveness probe (the file's age) still sees it alive
    assert probes.worker() is None
