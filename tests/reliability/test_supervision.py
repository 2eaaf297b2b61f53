"""`make run` keeps its workers alive: a worker whose main process is killed is started again and consumes its
queue, while the rest of the stack runs on."""

import os
import signal
import sys

import psutil
import pytest

from myproject.celery import app
from tests.support.processes import ManagedProcess, descendants, fresh_clone_env, running, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# Creating a PostgreSQL cluster, migrating it and starting eight processes on a busy machine.
READY_TIMEOUT_SECONDS = 240


def bulk_worker_main_pid(stack_pid: int) -> int | None:
    """The bulk worker's main process: the Celery process core.devtools.supervise started (its pool children share its
    command line but not its parent)."""
    for process in psutil.Process(stack_pid).children(recursive=True):
        try:
            command, parent = process.cmdline(), process.parent()
            if "bulk@%h" in command and parent is not None and "core.devtools.supervise" in parent.cmdline():
                return process.pid
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_killed_worker_is_started_again_and_consumes_its_queue(tmp_path, app_broker, stack_run_dir):
    # given the whole stack of `make run`
    env = fresh_clone_env(stack_run_dir)
    redis_port = env["EMBEDDED_REDIS_PORT"]
    stack = ManagedProcess("runstack-supervised", [sys.executable, "manage.py", "runstack"], env, tmp_path)
    try:
        stack.wait_for_output("Ready in", timeout=READY_TIMEOUT_SECONDS)
        killed = wait_until(lambda: bulk_worker_main_pid(stack.pid), 30, "no bulk worker found", stack)

        # when the bulk worker's main process is killed without warning
        os.kill(killed, signal.SIGKILL)

        # then a new bulk worker starts, and a task sent to its queue runs, with the stack still up
        wait_until(
            lambda: (bulk_worker_main_pid(stack.pid) or killed) != killed,
            60,
            "the bulk worker was not started again",
            stack,
        )
        app_broker(f"redis://127.0.0.1:{redis_port}/0")
        task_id = app.send_task("orders.cleanup_expired_carts", queue="bulk").id
        wait_until(
            lambda: f"orders.cleanup_expired_carts[{task_id}] succeeded" in stack.output(),
            90,
            "the restarted worker did not run the task",
            stack,
        )
        assert stack.alive()
        started = descendants(stack.pid)
    finally:
        stack.stop()  # SIGTERM, as `kill <pid>` sends it

    # and stopping the stack stops everything it started, not only its own process group
    wait_until(lambda: not any(running(pid) for pid in started), 30, "processes outlived the stopped stack")
