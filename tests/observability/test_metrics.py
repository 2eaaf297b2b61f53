"""/metrics: closed to anyone without the token, and after a real worker ran tasks it exposes what
Prometheus needs, in a format promtool accepts."""

import subprocess

import pytest
import redis
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from myproject.celery import app
from tests.factories import OrderFactory
from tests.support.embedded import free_port
from tests.support.processes import start_worker, wait_until

TOKEN = "scrape-token-for-tests"


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_do_not_exist_without_a_configured_token(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")

    assert response.status_code == 404


def test_metrics_ask_for_a_bearer_token(client, metrics_token):
    response = client.get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuse_a_wrong_token(client, metrics_token):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")

    assert response.status_code == 403
    assert b"celery_" not in response.content


@pytest.mark.django_db
def test_requests_are_counted_by_view_and_status(client, metrics_token):
    before = samples(scrape(client))
    key = ("http_requests_total", frozenset({"method": "GET", "view": "login", "status": "200"}.items()))

    client.get("/login/")
    client.get("/login/")

    after = samples(scrape(client))
    assert after[key] - before.get(key, 0) == 2
    latency_count = ("http_request_duration_seconds_count", frozenset({"method": "GET", "view": "login"}.items()))
    assert after[latency_count] >= 2


@pytest.mark.django_db
def test_queue_thresholds_and_open_dead_letters_are_exposed(client, metrics_token, settings):
    settings.QUEUE_DEPTH_THRESHOLDS = {"default": 7, "email": 8, "bulk": 9}

    exposed = samples(scrape(client))

    for queue, threshold in settings.QUEUE_DEPTH_THRESHOLDS.items():
        assert exposed[("celery_queue_length_threshold", frozenset({"queue": queue}.items()))] == threshold
        assert ("celery_queue_length", frozenset({"queue": queue}.items())) in exposed
    assert exposed[("celery_dead_letters_open", frozenset())] == 0
    assert exposed[("app_probe_up", frozenset({"probe": "broker"}.items()))] == 1


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_s_tasks_are_counted_and_promtool_accepts_the_output(
    client, metrics_token, observed_worker, send_to_observed, tmp_path
):
    order = OrderFactory()
    failed = ("celery_tasks_total", frozenset({"task": "orders.send_invoice_email", "state": "failed"}.items()))
    succeeded = ("celery_tasks_total", frozenset({"task": "orders.send_invoice_email", "state": "succeeded"}.items()))
    runtime_count = ("celery_task_runtime_seconds_count", frozenset({"task": "orders.send_invoice_email"}.items()))
    before = samples(scrape(client))

    send_to_observed("orders.send_invoice_email", order.pk, queue="email")
    send_to_observed("orders.send_invoice_email", "not-an-order-id", queue="email")

    # The runtime is recorded after the outcome, so wait for both runs' runtimes too.
    after = wait_until(
        lambda: (
            (s := samples(scrape(client))).get(failed, 0) > before.get(failed, 0)
            and s.get(succeeded, 0) > before.get(succeeded, 0)
            and s.get(runtime_count, 0) - before.get(runtime_count, 0) >= 2
            and s
        ),
        60,
        "the worker's task events and runtimes never reached /metrics",
        observed_worker,
    )
    assert after[("celery_dead_letters_open", frozenset())] >= 1
    assert after[("celery_workers_up", frozenset())] >= 1
    exposition = tmp_path / "metrics.txt"
    exposition.write_text(scrape(client))
    checked = subprocess.run(["promtool", "check", "metrics"], stdin=exposition.open(), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_a_transient_error_is_counted(client, metrics_token, process_logs, private_broker_url):
    order = OrderFactory()
    retried = ("celery_tasks_total", frozenset({"task": "orders.send_invoice_email", "state": "retried"}.items()))
    before = samples(scrape(client)).get(retried, 0)
    broker_of_its_own = private_broker_url.removesuffix("/0") + "/1"
    worker = start_worker(
        process_logs,
        name="no-mail-server-worker",
        queues="email",
        concurrency=1,
        CELERY_BROKER_URL=broker_of_its_own,
        EMAIL_PORT=str(free_port()),  # nothing listens: connection refused
    )
    try:
        with Connection(broker_of_its_own) as connection:
            app.send_task("orders.send_invoice_email", args=[order.pk], queue="email", connection=connection)

        wait_until(lambda: samples(scrape(client)).get(retried, 0) > before, 60, "no retry was counted", worker)
    finally:
        worker.stop()


@pytest.mark.django_db
def test_pages_answer_while_the_metrics_redis_is_unreachable(client, metrics_token, monkeypatch):
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=2)
    monkeypatch.setattr("core.operations.metrics.redis_client", lambda: unreachable)

    responses = [client.get("/login/") for _ in range(3)]
    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert samples(scraped.content.decode())[("app_probe_up", frozenset({"probe": "redis"}.items()))] == 0
