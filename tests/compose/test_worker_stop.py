"""`docker compose stop` on a worker in the middle of a task longer than its soft shutdown timeout: the worker
hands the task back to the queue and exits by itself, instead of waiting for the task (Celery's warm shutdown
on a plain SIGTERM) until Docker kills it."""

import json
import subprocess
import time

import yaml

from tests.compose.conftest import REPO, wait_for

QUEUE = "bulk"
# Longer than the stack's CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT (30 s) and below the charge task's soft limit.
TASK_SECONDS = 45


def test_a_stopped_worker_hands_a_long_task_back_and_exits_by_itself(staff, healthy_stack):
    # given, in place of worker-bulk, a worker of that service (same image, environment and stop settings)
    # whose payment gateway takes longer than the soft shutdown timeout, charging an order not yet charged
    healthy_stack.compose("stop", "worker-bulk")
    worker = (
        healthy_stack.compose(
            "run",
            "-d",
            "--no-deps",
            "-e",
            f"PAYMENT_GATEWAY_LATENCY_MS={TASK_SECONDS * 1000}",
            "worker-bulk",
            "celery",
            "-A",
            "myproject",
            "worker",
            "-Q",
            QUEUE,
            "-n",
            "stop-test@%h",
            "--concurrency",
            "1",
        )
        .strip()
        .splitlines()[-1]
    )
    try:
        wait_for(lambda: "ready." in logs(worker), 60, "the one-off worker never became ready")
        task_id = healthy_stack.compose(
            "exec",
            "-T",
            "web",
            "python",
            "manage.py",
            "shell",
            "--verbosity",
            "0",
            "-c",
            "from finance.models import Charge; from orders.tasks import charge_order; "
            "from orders.models import Order; "
            "order = Order.objects.exclude(pk__in=Charge.objects.values('order_id')).order_by('pk').first(); "
            f"print(charge_order.apply_async((order.pk,), queue='{QUEUE}').id)",
        ).strip()
        wait_for(
            lambda: f"orders.charge_order[{task_id}] received" in logs(worker),
            30,
            "the task never reached the worker",
        )

        # when Docker stops it as `docker compose stop` does: SIGTERM, SIGKILL after the stop_grace_period
        grace = int(
            yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["worker-bulk"][
                "stop_grace_period"
            ].removesuffix("s")
        )
        started = time.monotonic()
        subprocess.run(["docker", "stop", "-t", str(grace), worker], check=True, capture_output=True)
        stopped_after = time.monotonic() - started
        print(f"\nworker with a {TASK_SECONDS} s task stopped in {stopped_after:.1f} s (grace {grace} s)")

        # then it exited by itself (not SIGKILL's 137) and the task waits on its queue again
        state = json.loads(
            subprocess.run(["docker", "inspect", worker], capture_output=True, text=True, check=True).stdout
        )[0]["State"]
        assert state["ExitCode"] != 137, logs(worker)
        waiting = healthy_stack.compose("exec", "-T", "redis", "valkey-cli", "lrange", QUEUE, "0", "-1")
        assert waiting.count(f'"id": "{task_id}"') == 1
    finally:
        subprocess.run(["docker", "rm", "-f", worker], capture_output=True)
        healthy_stack.compose("start", "worker-bulk")


def logs(container: str) -> str:
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return result.stdout + result.stderr
