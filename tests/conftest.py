"""Fixtures shared by the whole suite."""

import fcntl

import pytest
from django.conf import settings
from django.core.management import call_command

from core.redis import redis_client
from tests.support import embedded
from tests.support.processes import shared_worker, stop_shared


@pytest.fixture(scope="session", autouse=True)
def clean_redis():
    """The suite owns the Redis database it is given: start from an empty one."""
    redis_client().flushdb()


@pytest.fixture(scope="session", autouse=True)
def static_files():
    """Pages render through the production static storage, which needs collectstatic's manifest; xdist
    workers share STATIC_ROOT, so they take turns writing it."""
    settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.RUN_DIR / "collectstatic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def real_smtp(settings):
    """Django's test runner swaps in an in-memory mail backend; mail here goes to a real SMTP server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def mailsink():
    sink = embedded.mail_sink
    sink.messages.clear()
    return sink


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def shared_processes_stopped_at_exit():
    yield
    stop_shared()


@pytest.fixture
def live_worker(django_db_setup, process_logs, shared_processes_stopped_at_exit):
    """A real worker process on every queue, kept across tests until a test starts its own workers;
    tests using it need transactional_db."""
    return shared_worker(process_logs, DJANGO_MEDIA_ROOT=str(process_logs / "media"))


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
