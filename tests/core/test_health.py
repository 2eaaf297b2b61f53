import pytest

from core.health import BEAT_KEY, WORKER_KEY_PREFIX, record_heartbeat
from core.redis import redis_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_heartbeats():
    client = redis_client()
    saved = {key: client.get(key) for key in client.scan_iter(match="health:*")}
    client.delete(*saved) if saved else None
    yield
    for key, value in saved.items():
        client.set(key, value, ex=30)


def test_healthz_names_missing_workers_and_beat(client, no_heartbeats):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert set(body["failed"]) == {"workers", "beat"}
    assert body["database"] == "ok" and body["broker"] == "ok"
    assert set(body["queues"]) == {"default", "email", "bulk"}


def test_healthz_is_200_with_a_worker_and_a_fresh_beat(client, no_heartbeats):
    record_heartbeat(WORKER_KEY_PREFIX + "default@test", "worker")
    record_heartbeat(BEAT_KEY, "beat")

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["workers"] == ["default@test"]
    assert 0 <= body["beat_heartbeat_age_seconds"] < 5


def test_healthz_counts_waiting_messages_per_queue(client, no_heartbeats):
    from myproject.celery import app

    app.send_task("orders.send_invoice_email", args=[1], queue="bulk")
    try:
        assert client.get("/healthz").json()["queues"]["bulk"] >= 1
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("bulk")
