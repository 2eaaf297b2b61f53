"""Real processes for integration tests: Celery workers and other project commands, started as a deploy
would start them, against the test database and the test Redis."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """DATABASE_URL of the test database pytest-django created, for processes outside this one."""
    db = connection.settings_dict
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    credentials = f"{user}{password}@" if user else ""
    return f"postgres://{credentials}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**overrides: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        EMAIL_HOST=settings.EMAIL_HOST,
        EMAIL_PORT=str(settings.EMAIL_PORT),
        PYTHONUNBUFFERED="1",
        LOG_FORMAT="text",
    )
    env.update(overrides)
    return env


def fresh_clone_env(run_dir: Path, **ports: int) -> dict[str, str]:
    """The environment of `make run` on a fresh clone (nothing configured, so it embeds PostgreSQL and
    Valkey), with its state in run_dir and every port it opens moved to a free one (or to `ports`)."""
    from tests.support.embedded import free_port

    unset = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "FLOWER_BASIC_AUTH"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(
        DJANGO_DEBUG="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        RUN_DIR=str(run_dir),
        PYTHONUNBUFFERED="1",
    )
    for name in ("EMBEDDED_POSTGRES_PORT", "EMBEDDED_REDIS_PORT", "WEB_PORT", "FLOWER_PORT", "EMAIL_PORT"):
        env[name] = str(ports.get(name) or free_port())
    return env


def descendants(pid: int) -> set[int]:
    """Every live process below pid, found through /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class ManagedProcess:
    """A child process with its output in a log file, stopped (and its group killed) on exit."""

    # The signal on which the process writes every thread's stack to its output (a Celery worker's SIGUSR1):
    # a wait that times out sends it first, so a process gone quiet shows where it stands.
    stack_dump_signal: int | None = None

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path, *, shared: bool = False):
        if not shared:
            # A test's own worker or beat must not share queues or schedules with the suite's shared one.
            for role in ("worker", "beat"):
                if role in command:
                    stop_shared(role)
        self.name = name
        self.command = command
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("ab")
        # A process started again under the same name appends to the same log: read only what this one wrote,
        # or a wait for "ready." would be met by the previous process's line while this one still boots.
        self.log_start = self.log.tell()
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        with self.log_path.open("rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.output(), timeout, f"{self.name} never printed {text!r}", self)

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.process.pid, signum)

    def stop(self, timeout: float = 20) -> int | None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # pool children and anything else it left
        self.process.wait(timeout=10)
        self.log.close()
        return self.process.returncode


STACK_DUMP_WAIT = 1  # second
STACK_DUMP_CHARS = 12_000  # the tail of a log, with a worker's stacks: its main thread and its timers


def wait_until(condition: Callable[[], object], timeout: float, message: str, process: ManagedProcess | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        if process is not None and not process.alive():
            raise AssertionError(f"{message}: {process.name} exited.\n{process.output()[-4000:]}")
        time.sleep(0.1)
    detail = ""
    if process is not None:
        if process.stack_dump_signal is not None and process.alive():
            process.signal(process.stack_dump_signal)
            time.sleep(STACK_DUMP_WAIT)
        detail = f"\n{process.output()[-STACK_DUMP_CHARS:]}"
    raise AssertionError(f"{message} within {timeout}s{detail}")


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "myproject", *args]


_shared: dict[str, ManagedProcess] = {}


def shared_worker(log_dir: Path, **env: str) -> ManagedProcess:
    """The suite's worker on every queue, started on first use and again after a test ran its own."""
    if "worker" not in _shared or not _shared["worker"].alive():
        _shared["worker"] = start_worker(log_dir, name="worker", shared=True, **env)
    return _shared["worker"]


def shared_beat(log_dir: Path) -> ManagedProcess:
    """The suite's beat, started on first use and again after a test ran its own."""
    if "beat" not in _shared or not _shared["beat"].alive():
        beat = ManagedProcess(
            "beat", celery_command("beat", "--loglevel", "INFO", "--pidfile", ""), process_env(), log_dir, shared=True
        )
        beat.wait_for_output("beat: Starting", timeout=60)
        _shared["beat"] = beat
    return _shared["beat"]


def stop_shared(role: str | None = None) -> None:
    for name in [role] if role else list(_shared):
        process = _shared.pop(name, None)
        if process is not None:
            process.stop()


def start_worker(
    log_dir: Path,
    *,
    queues: str = "default,email,bulk",
    name: str = "worker",
    concurrency: int = 2,
    extra: tuple[str, ...] = (),
    shared: bool = False,
    **env: str,
) -> ManagedProcess:
    worker = ManagedProcess(
        name,
        celery_command(
            "worker",
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            *extra,
        ),
        process_env(**env),
        log_dir,
        shared=shared,
    )
    worker.stack_dump_signal = signal.SIGUSR1  # Celery's "cry" handler
    worker.wait_for_output("ready.", timeout=60)
    return worker
