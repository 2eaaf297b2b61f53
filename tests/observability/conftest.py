"""Observability fixtures: a Sentry endpoint that records envelopes, the project's trace viewer, a private broker,
and one worker that reports to both, so tasks sent here run on that worker and on no other worker of the suite."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kombu import Connection

from core.operations.trace_viewer import SpanFile, TraceViewer
from myproject.celery import app
from tests.support.embedded import free_port, start_redis_server
from tests.support.processes import start_worker


class SentrySink:
    """Every envelope item posted to /api/<project>/envelope/, as (item header, payload)."""

    def __init__(self):
        self.items: list[tuple[dict, bytes]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/envelope/"):
                    sink.items.extend(envelope_items(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.dsn = f"http://public-key@127.0.0.1:{self.server.server_port}/1"

    def of_type(self, item_type: str) -> list[dict]:
        return [json.loads(payload) for header, payload in list(self.items) if header.get("type") == item_type]


def envelope_items(body: bytes) -> list[tuple[dict, bytes]]:
    """Parse Sentry's envelope format: a header line, then items of a header line and a payload."""
    _envelope_header, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return items


@pytest.fixture(scope="session")
def sentry_sink():
    sink = SentrySink()
    yield sink
    sink.server.shutdown()


@pytest.fixture
def trace_viewer(tmp_path):
    """The trace viewer compose runs (core.operations.trace_viewer), on a free loopback port, spans in tmp_path."""
    viewer = TraceViewer(("127.0.0.1", 0), SpanFile(tmp_path / "traces.jsonl"))
    threading.Thread(target=viewer.serve_forever, daemon=True).start()
    yield viewer
    viewer.shutdown()
    viewer.server_close()


@pytest.fixture(scope="session")
def private_broker_url():
    port = free_port()
    server = start_redis_server(port=port)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def observed_worker(django_db_setup, django_db_blocker, process_logs, sentry_sink, private_broker_url):
    """A worker as production runs it (JSON logs, Sentry on) that only this package's tests feed; it does
    not consume the bulk queue, so messages sent there stay to be counted."""
    worker = start_worker(
        process_logs,
        name="observed-worker",
        queues="default,email",
        concurrency=1,
        CELERY_BROKER_URL=private_broker_url,
        SENTRY_DSN=sentry_sink.dsn,
        LOG_FORMAT="json",
        DJANGO_MEDIA_ROOT=str(process_logs / "media"),
    )
    yield worker
    worker.stop()


@pytest.fixture
def send_to_observed(private_broker_url):
    """Publish a task message to the private broker; returns its task id."""

    def send(task_name: str, *args, queue: str = "default", priority: int | None = None) -> str:
        with Connection(private_broker_url) as connection:
            return app.send_task(task_name, args=list(args), queue=queue, priority=priority, connection=connection).id

    return send


@pytest.fixture(autouse=True)
def metrics_recording_on(monkeypatch):
    """A test that made Redis unreachable must not pause recording for the next one."""
    monkeypatch.setattr("core.operations.metrics._recording_paused_until", 0.0)
