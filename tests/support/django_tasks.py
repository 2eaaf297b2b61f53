"""django.tasks tasks for the tests of the project's backend: module-level, as Django requires, and importable
by a real worker process."""

from pathlib import Path

from django.db import connection
from django.tasks import task


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="email")
def shout(text: str) -> str:
    return text.upper()


@task
def fail_first_time(marker: str) -> str:
    """Fails with a transient error until a file exists, which its first attempt creates."""
    if not Path(marker).exists():
        Path(marker).write_text("attempted")
        raise ConnectionError("the network blinked")
    return "recovered"


@task
def refuse(text: str) -> None:
    raise ValueError(f"cannot use {text!r}")


@task
def database_backend_pid() -> int:
    """The PostgreSQL server process serving this task's connection: the same one while the connection is kept."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
