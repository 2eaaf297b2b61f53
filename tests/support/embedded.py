"""Local services for the suite, started before Django reads its settings: the embedded PostgreSQL when
DATABASE_URL is unset and the embedded Valkey when REDIS_URL is unset (the engines production runs), and an
SMTP sink that keeps every message, whose port goes to EMAIL_PORT so worker processes deliver to it too.

Under pytest-xdist the servers start once, in the controller; each xdist worker inherits their URLs, gets
its own test database from pytest-django and its own Redis database number here."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from core.devtools.embedded import EmbeddedPostgres, EmbeddedValkey
from core.devtools.mailsink import start_mailsink

_started: list = []
mail_sink = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis_server(*, port: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """A private Valkey on loopback, for the suite or for a test that stops and restarts one."""
    server = EmbeddedValkey(data_dir=Path(tempfile.mkdtemp(prefix="valkey-")), port=port, persistent=False)
    server.start(*extra)
    return server.process


def start_test_postgres() -> str:
    """A throwaway cluster for this run (about a second to create); returns the URL of its database."""
    folder = Path(tempfile.mkdtemp(prefix="test-postgres-"))
    folder.chmod(0o755)  # when root, the server runs as an unprivileged user that must reach its data
    server = EmbeddedPostgres(data_dir=folder / "data", port=free_port(), durable=False)
    _started.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    server.start(database="app")
    _started.append(server)
    return server.url("app")


def redis_url_for_xdist_worker(url: str, worker: str) -> str:
    """gw0 keeps the given database number, gw1 takes the next one, and so on (Redis has 16)."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    database = (base + int(worker.removeprefix("gw"))) % 16
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global mail_sink
    # Production settings, except what a loopback test cannot have: a TLS proxy in front, a real secret.
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
    try:
        xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
        if xdist_worker is None:
            if "DATABASE_URL" not in os.environ:
                os.environ["DATABASE_URL"] = start_test_postgres()
            if "REDIS_URL" not in os.environ:
                port = free_port()
                _started.append(start_redis_server(port=port))
                os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        else:
            shared_url = os.environ["REDIS_URL"]
            os.environ["REDIS_URL"] = redis_url_for_xdist_worker(shared_url, xdist_worker)
            if os.environ.get("CELERY_BROKER_URL") == shared_url:  # a Redis broker moves with it
                os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
        port = free_port()
        controller, mail_sink = start_mailsink(port=port)
        _started.append(controller)
        os.environ["EMAIL_HOST"] = "127.0.0.1"
        os.environ["EMAIL_PORT"] = str(port)
        os.makedirs(os.path.join(os.path.dirname(__file__), "..", "..", ".run"), exist_ok=True)
        return (yield)
    except BaseException:  # settings failed to load: pytest_unconfigure will not run
        stop_services()
        raise


def pytest_unconfigure(config):
    stop_services()


def stop_services():
    while _started:
        service = _started.pop()
        if isinstance(service, subprocess.Popen):
            service.terminate()
            service.wait(timeout=10)
        elif callable(service):
            service()
        else:
            service.stop()
