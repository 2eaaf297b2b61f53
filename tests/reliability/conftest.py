"""Fixtures for the reliability suite: an SMTP server that holds each mail so a test can kill a worker
mid-task, and a private Redis a test may kill."""

import asyncio

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from kombu import Connection
from kombu.asynchronous import Hub

from core.devtools.mailsink import MailSink
from core.tasking.redis_transport import Transport
from tests.support import embedded


def broker_is_redis() -> bool:
    return settings.CELERY_BROKER_URL.startswith("redis")


def digest_batches_in_flight(log: str) -> int:
    """Batches the runs published (each is received before its run succeeds) minus those finished."""
    lines = [line for line in log.splitlines() if "Task notifications.send_digest_batch[" in line]
    return sum(line.endswith("received") for line in lines) - sum(" succeeded in " in line for line in lines)


redis_broker_only = pytest.mark.skipif(
    not broker_is_redis(),
    reason="Redis broker behaviour (AOF persistence, visibility timeout): RabbitMQ has no visibility timeout, "
    "and its shared server is not one a test may kill",
)


class HoldingMailSink(MailSink):
    """Keeps each delivery waiting at MAIL FROM, before the mail is accepted: a worker killed while a mail
    is held has not sent it, so a redelivered task must send it exactly once."""

    def __init__(self, hold_seconds: float):
        super().__init__()
        self.hold_seconds = hold_seconds
        self.held = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.held += 1
        try:
            await asyncio.sleep(self.hold_seconds)
        finally:
            with self.lock:
                self.held -= 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def holding(self) -> bool:
        with self.lock:
            return self.held > 0

    def count_by_message_id(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for message in self.messages:
                counts[message["Message-ID"]] = counts.get(message["Message-ID"], 0) + 1
            return counts


@pytest.fixture
def holding_mailsink():
    """An SMTP server on its own port; pass `EMAIL_PORT=str(sink.port)` to the workers that should use it."""
    sink = HoldingMailSink(hold_seconds=1.0)
    controller = Controller(sink, hostname="127.0.0.1", port=embedded.free_port())
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()


@pytest.fixture
def private_redis():
    """A redis-server of this test alone, with the compose file's persistence, that the test may kill."""
    server = PrivateRedis(port=embedded.free_port())
    yield server
    server.kill()


@pytest.fixture
def worker_connection(private_redis):
    """A broker connection as a worker's main process has it: with an event loop, which sends the
    acknowledgements and reads the replies to the unacked records (core.tasking.redis_transport)."""
    hub = Hub()
    connection = Connection(private_redis.url, transport=Transport)
    connection.connect()
    connection.transport.register_with_event_loop(connection.connection, hub)
    yield connection, hub
    connection.release()
    hub.close()


class PrivateRedis:
    PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "everysec")

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None
        self.folder = None
        self.start()

    def start(self) -> None:
        extra = self.PERSISTENCE + (("--dir", self.folder) if self.folder else ())
        self.process = embedded.start_redis_server(port=self.port, extra=extra)
        # start_redis_server picks a fresh folder; a restart must reopen the same one to find the AOF
        self.folder = self.folder or _working_dir(self.port)

    def append_only_file_written(self) -> bool:
        """Every command is in the append-only file, which a killed process (not machine) keeps. everysec
        holds writes back while its once-a-second fsync runs, so right after a burst they may not be."""
        import redis

        persistence = redis.Redis(port=self.port).info("persistence")
        return persistence["aof_buffer_length"] == 0 and persistence["aof_pending_bio_fsync"] == 0

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _working_dir(port: int) -> str:
    import redis

    return redis.Redis(port=port).config_get("dir")["dir"]
