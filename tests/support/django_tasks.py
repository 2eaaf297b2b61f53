"""django.tasks tasks for the tests of the project's backend: module-level, as Django requires, and importable
by a real worker process."""

from pathlib import Path

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
