"""Fixtures shared by the whole suite."""

import fcntl
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings

from core.redis import redis_client
from finance.gateways import SimulatedGateway
from myproject.celery import app
from tests.support import embedded
from tests.support.object_storage import Bucket, ObjectStorageServer
from tests.support.processes import shared_worker, stop_shared

# What the project's own code keeps in Redis. Every test starts without it, so none inherits another's
# gateway debits (keyed by customer id, which the database hands out again after a rollback), locks,
# metrics counters or cached sessions.
APP_STATE_KEY_PATTERNS = (
    f"{SimulatedGateway.LEDGER_PREFIX}:*",
    "lock:*",  # core.tasking.locks.nonoverlapping
    "metrics:*",  # core.operations.metrics
    cache.make_key("*"),
)


@pytest.fixture(scope="session", autouse=True)
def empty_redis_at_start():
    """The suite owns the Redis database it is given (settings.REDIS_URL): start from an empty one."""
    redis_client().flushdb()


@pytest.fixture
def stack_run_dir():
    """RUN_DIR of a `make run` a test starts: outside pytest's private temporary folders, so that when the
    suite runs as root the embedded PostgreSQL's unprivileged user reaches its data; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="make-run-"))
    folder.chmod(0o755)
    yield folder / "run"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_app_state_in_redis():
    """Not a flush: the broker's queues and bindings and the heartbeats stay, because the worker and beat a
    test shares with the next keep running. A flush would unbind the worker's queues, and kombu, which
    declares a queue once per connection, would then drop every later message without an error."""
    client = redis_client()
    keys = [key for pattern in APP_STATE_KEY_PATTERNS for key in client.scan_iter(match=pattern, count=1000)]
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    with override_settings(PASSWORD_HASHERS=["tests.support.hashers.OneIterationPBKDF2PasswordHasher"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def static_files():
    """Pages render through the production static storage, which needs collectstatic's manifest. Test
    processes running in parallel (pytest-xdist) share STATIC_ROOT, so they collect one at a time."""
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.RUN_DIR / "collectstatic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def real_smtp(settings):
    """Django's test runner swaps in an in-memory mail backend; mail here goes to a real SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def object_storage_server(process_logs):
    """moto's S3 server, a process on loopback, started on first use (about a second)."""
    server = ObjectStorageServer(process_logs)
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(object_storage_server, settings) -> Bucket:
    """A fresh bucket, which this process's default storage (invoice PDFs, uploads) now writes to and reads from."""
    bucket = object_storage_server.bucket()
    settings.STORAGES = bucket.storages()
    return bucket


@pytest.fixture
def mailsink():
    sink = embedded.mail_sink
    sink.messages.clear()
    return sink


@pytest.fixture
def eager():
    """Tasks run in-process, for unit tests of task logic only."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def instant_gateway(settings):
    """The simulated gateway without its latency, succeeding unless a test sets a failure rate."""
    settings.PAYMENT_GATEWAY_LATENCY_MS = 0
    settings.PAYMENT_GATEWAY_FAILURE_RATE = 0.0
    return settings


@pytest.fixture
def lost_responses(settings):
    """Switch to LostResponsesGateway; set `.lost` to how many responses to lose."""
    from tests.finance.gateways import LostResponsesGateway

    settings.PAYMENT_GATEWAY_CLASS = "tests.finance.gateways.LostResponsesGateway"
    LostResponsesGateway.lost = 0
    LostResponsesGateway.keys_sent = []
    return LostResponsesGateway


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def shared_processes_stopped_at_exit():
    yield
    stop_shared()


@pytest.fixture
def no_shared_worker():
    """For a test that queues tasks before it starts workers of its own: the suite's shared worker, left
    running by an earlier test, would otherwise take them first."""
    stop_shared("worker")


@pytest.fixture
def no_shared_beat():
    """For a test of the beat lock: the suite's shared beat, left running by a browser test in this test
    database, holds the lock and would make every other beat stand by."""
    stop_shared("beat")


@pytest.fixture
def live_worker(django_db_setup, process_logs, shared_processes_stopped_at_exit):
    """A real worker process on every queue, kept across tests until a test starts its own workers;
    tests using it need transactional_db."""
    return shared_worker(process_logs, DJANGO_MEDIA_ROOT=str(process_logs / "media"))


@pytest.fixture
def app_broker():
    """Points this process's Celery app (the web side, which publishes) at another broker for one test."""
    original = app.conf.broker_url, app.conf.broker_write_url

    def use(url: str, write_url: str | None = None) -> None:
        # Celery fills broker_write_url from a CELERY_BROKER_URL environment variable: set both.
        app.conf.broker_url, app.conf.broker_write_url = url, write_url or url
        app.close()  # drop pooled connections to the old broker
        app.amqp._producer_pool = None  # close() keeps it when the app's own pool was never built

    yield use
    use(*original)


@pytest.fixture
def redis_of_this_test(settings, app_broker):
    """A redis-server of this test alone as REDIS_URL and broker: no worker or beat of the suite writes its
    heartbeats or takes messages there, and what the test writes there is gone with it."""
    port = embedded.free_port()
    server = embedded.start_redis_server(port=port)
    url = f"redis://127.0.0.1:{port}/0"
    settings.REDIS_URL = url
    redis_client.cache_clear()
    app_broker(url)
    yield url
    redis_client.cache_clear()  # the next call connects to the REDIS_URL the settings fixture restores
    server.terminate()
    server.wait(timeout=10)
