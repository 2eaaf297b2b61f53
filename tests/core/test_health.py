import pytest

from core.health import BEAT_KEY, WORKER_KEY_PREFIX, record_heartbeat

# A Redis of each test's own: the suite's workers and beat, which may be running, write no heartbeats and
# take no messages there, and the heartbeats written here do not outlive the test.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_of_this_test")]


def test_healthz_names_missing_workers_and_beat(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert set(body["failed"]) == {"workers", "beat"}
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert set(body["queues"]) == {"default", "email", "bulk"}


def test_healthz_is_200_with_a_worker_and_a_fresh_beat(client):
    record_heartbeat(WORKER_KEY_PREFIX + "default@test", "worker")
    record_heartbeat(BEAT_KEY, "beat")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["workers"] == ["default@test"]
    assert 0 <= body["beat_heartbeat_age_seconds"] < 5


def test_healthz_counts_waiting_messages_per_queue(client):
    from myproject.celery import app

    app.send_task("orders.send_invoice_email", args=[1], queue="bulk")

    assert client.get("/healthz").json()["queues"]["bulk"] == 1
