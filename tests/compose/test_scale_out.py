"""Scale-out on containers: invoice email workers in 1 and then 3 containers of the project image, sharing no
volume (PDFs go to an S3 server), against a mail server that takes 50 ms per message; then one of three
SIGKILLed mid-run. Figures for BENCHMARKS.md are printed with -s."""

import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime

import boto3
import pytest

from tests.compose.conftest import (
    Mailpit,
    assert_once_but_for_the_commit_gap,
    http_get,
    invoice_copies,
    orders_without_invoice,
    wait_for,
)

MAIL_ACCEPT_DELAY_MS = 50
INVOICES_PER_RUN = 150
# Each replica stands for a host of its own: one pool process, held to 0.4 of a core. Three replicas then take
# 1.2 of this machine's 2 cores and leave the rest to what they share (PostgreSQL, Redis, Flower, the S3 and mail
# servers): the figure measures the design, not a saturated machine (unbounded: 2.26x; at 0.5 of a core the
# machine was near saturation and gave 2.44-2.66x: BENCHMARKS.md). The test prints the machine's busy share.
POOL_PER_REPLICA = 1
REPLICA_CPUS = 0.4
# The killed replica's messages come back once this has passed (kombu's visibility timeout); shorter than the
# stack's 270 s so the test does not idle, and still above the email queue's 60 s hard limit.
REPLICA_VISIBILITY_TIMEOUT = 90
BUCKET = "scale-out-files"


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout.strip()


def answers(url: str) -> bool:
    """200, once the server behind a just-published port is up (docker-proxy accepts before it is)."""
    try:
        return http_get(url)[0] == 200
    except OSError:
        return False


def published_port(container: str, port: int) -> int:
    return int(docker("port", container, str(port)).splitlines()[0].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def compose_network(healthy_stack) -> str:
    [network] = healthy_stack.containers()["worker-email"]["NetworkSettings"]["Networks"]
    return network


@pytest.fixture(scope="module")
def started():
    """Containers this module starts, removed at the end whatever happens."""
    containers: list[str] = []
    yield containers
    if containers:
        subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)


@pytest.fixture(scope="module")
def object_store(compose_network, started) -> str:
    """An S3 server on the stack's network as `s3`, with an empty bucket; its address inside the network."""
    image = os.environ.get("S3_IMAGE")
    assert image, "S3_IMAGE names the S3 server image (scripts/compose-ci builds it)"
    container = docker(
        "run", "-d", "--network", compose_network, "--network-alias", "s3", "-p", "127.0.0.1::5000", image
    )  # fmt: skip
    started.append(container)
    port = published_port(container, 5000)
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="scale-out",
        aws_secret_access_key="scale-out",
        region_name="us-east-1",
    )
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/"), 60, "the S3 server never answered")
    client.create_bucket(Bucket=BUCKET)
    return "http://s3:5000"


@pytest.fixture(scope="module")
def slow_mail(healthy_stack, compose_network, started) -> Mailpit:
    """A second mail service on the stack's network as `slowmail`, taking MAIL_ACCEPT_DELAY_MS per message."""
    container = docker(
        "run", "-d", "--network", compose_network, "--network-alias", "slowmail",
        "-e", f"SMTP_ACCEPT_DELAY_MS={MAIL_ACCEPT_DELAY_MS}", "-p", "127.0.0.1::8025",
        healthy_stack.env["MAILPIT_IMAGE"],
    )  # fmt: skip
    started.append(container)
    base = f"http://127.0.0.1:{published_port(container, 8025)}/"
    wait_for(lambda: answers(base + "readyz"), 60, "the slow mail service never answered")
    return Mailpit(base)


@pytest.fixture(scope="module")
def replica_env_file(healthy_stack, object_store) -> str:
    """worker-email's own environment, with files in the bucket and mail to `slowmail`."""
    environment = dict(
        line.split("=", 1) for line in healthy_stack.containers()["worker-email"]["Config"]["Env"] if "=" in line
    )
    environment.update(
        EMAIL_HOST="slowmail",
        EMAIL_PORT="1025",
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_S3_ENDPOINT_URL=object_store,
        AWS_ACCESS_KEY_ID="scale-out",
        AWS_SECRET_ACCESS_KEY="scale-out",
        AWS_S3_REGION_NAME="us-east-1",
        CELERY_VISIBILITY_TIMEOUT=str(REPLICA_VISIBILITY_TIMEOUT),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as env_file:
        env_file.writelines(f"{name}={value}\n" for name, value in environment.items())
    yield env_file.name
    os.unlink(env_file.name)


@pytest.fixture(scope="module")
def email_queue_to_replicas(healthy_stack):
    """Compose's worker-email stopped, so only the replicas of these tests take the email queue."""
    healthy_stack.compose("stop", "worker-email")
    yield
    healthy_stack.compose("start", "worker-email")
    healthy_stack.wait_healthy()


class Replicas:
    def __init__(self, stack, network: str, env_file: str, started: list[str]):
        self.stack, self.network, self.env_file, self.started = stack, network, env_file, started
        self.image = stack.containers()["web"]["Config"]["Image"]

    def start(self, count: int) -> list[str]:
        """`count` email workers of the project image, no volume, each ready before this returns."""
        run = ["run", "-d", "--network", self.network, "--env-file", self.env_file, "--cpus", str(REPLICA_CPUS)]
        worker = ["celery", "-A", "myproject", "worker", "-Q", "email", "-l", "INFO"]
        pool = ["--concurrency", str(POOL_PER_REPLICA)]
        containers = [docker(*run, self.image, *worker, *pool, "-n", f"email-{i}@%h") for i in range(count)]
        self.started.extend(containers)
        for container in containers:
            wait_for(lambda c=container: " ready." in logs(c), 120, f"replica {container[:12]} never got ready")
        return containers

    def remove(self, containers: list[str]) -> None:
        docker("rm", "-f", *containers)


def logs(container: str) -> str:
    result = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def replicas(healthy_stack, compose_network, replica_env_file, started, email_queue_to_replicas, slow_mail):
    return Replicas(healthy_stack, compose_network, replica_env_file, started)


@pytest.fixture(scope="module")
def fresh_orders(healthy_stack):
    """Orders without an invoice, handed out a run at a time."""
    return iter(orders_without_invoice(healthy_stack, 3 * INVOICES_PER_RUN))


def enqueue_invoices(stack, orders: list[int]) -> list[str]:
    """What Send invoice does for each order (the request and its outbox message in one transaction); the
    invoice numbers."""
    return json.loads(
        stack.django(
            "import json; from django.db import transaction; from core.tasking import outbox; "
            "from orders import services, tasks; from orders.models import Order\n"
            "numbers = []\n"
            f"for order in Order.objects.filter(pk__in={orders!r}):\n"
            "    with transaction.atomic():\n"
            "        numbers.append(services.invoice_request(order=order).number)\n"
            "        outbox.enqueue(tasks.send_invoice_email, order.pk)\n"
            "print(json.dumps(numbers))"
        )
    )


def where_unsent_invoices_are(stack, mail: Mailpit, numbers: list[str]) -> str:
    """For a failure: the unsent invoices' job rows, the database sessions in a transaction, the broker's lists."""
    unsent = [number for number, ids in invoice_copies(mail, numbers).items() if not ids]
    return stack.django(
        "from django.db import connection; from core.models import Job; from orders.models import Invoice\n"
        "from myproject.celery import app\n"
        f"orders = dict(Invoice.objects.filter(number__in={unsent!r}).values_list('order_id', 'number'))\n"
        "for job in Job.objects.filter(task_name='orders.send_invoice_email', subject_id__in=map(str, orders)):\n"
        "    print('job', orders[int(job.subject_id)], job.state, job.attempt, job.worker, job.updated_at, job.error)\n"
        "with connection.cursor() as cursor:\n"
        '    cursor.execute("SELECT pid, client_addr, state, wait_event, now() - xact_start, left(query, 100) "\n'
        '                   "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()")\n'
        "    for row in cursor.fetchall(): print('session', *row)\n"
        "with app.connection_for_read() as broker:\n"
        "    client = broker.default_channel.client\n"
        "    print('broker', 'email', client.llen('email'), 'unacked', client.hlen('unacked'),\n"
        "          'mutex ttl', client.ttl('unacked_mutex'))\n"
    )


def sent(mail: Mailpit, numbers: list[str]) -> int:
    return sum(1 for ids in invoice_copies(mail, numbers).values() if ids)


def cpu_times() -> tuple[int, int]:
    """This machine's (busy, total) CPU time so far, in clock ticks: the containers run on its kernel."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


class Run:
    """A batch of invoices sent by `count` replicas: when the first and the last reached the mail server (its own
    clock, which is this machine's: no polling interval in the figures), and how busy the machine was."""

    def __init__(self, stack, replicas: Replicas, mail: Mailpit, orders, count: int):
        containers = replicas.start(count)
        try:
            docker("pause", *containers)
            numbers = enqueue_invoices(stack, [next(orders) for _ in range(INVOICES_PER_RUN)])
            self.began, (busy_before, total_before) = datetime.now(UTC), cpu_times()
            docker("unpause", *containers)
            wait_for(lambda: sent(mail, numbers) == len(numbers), 300, f"{count} replica(s) never sent every invoice")
            busy_after, total_after = cpu_times()
        finally:
            replicas.remove(containers)
        wanted = {f"Your invoice {number}" for number in numbers}
        accepted = sorted(datetime.fromisoformat(m["Created"]) for m in mail.messages() if m["Subject"] in wanted)
        self.first, self.last, self.count = accepted[0], accepted[-1], len(accepted)
        self.machine_busy = (busy_after - busy_before) / (total_after - total_before)

    @property
    def rate(self) -> float:
        """Invoices per second once the replicas were warm: a replica's first task also imports the PDF and S3
        libraries, which on a fraction of a core takes seconds and would favour three replicas warming at once."""
        return (self.count - 1) / (self.last - self.first).total_seconds()

    def __str__(self) -> str:
        warming = (self.first - self.began).total_seconds()
        return f"{self.rate:.1f}/s (first after {warming:.1f} s; machine {self.machine_busy:.0%} busy)"


def test_three_replicas_send_invoices_faster_than_one(healthy_stack, replicas, slow_mail, fresh_orders):
    one = Run(healthy_stack, replicas, slow_mail, fresh_orders, 1)
    three = Run(healthy_stack, replicas, slow_mail, fresh_orders, 3)

    print(
        f"\nscale-out, {INVOICES_PER_RUN} invoices per run, mail accepted in {MAIL_ACCEPT_DELAY_MS} ms, "
        f"{POOL_PER_REPLICA} pool process and {REPLICA_CPUS} CPU per replica: "
        f"1 replica {one}, 3 replicas {three}, ratio {three.rate / one.rate:.2f}"
    )
    # Sharing one queue, three send faster than one. How much faster is a figure, not a pass mark (BENCHMARKS.md:
    # 3.09 in CI's run of record, 3.15-3.46 in others): speed goals live in benchmarks.
    assert three.rate > one.rate


def test_a_replica_sigkilled_mid_run_loses_no_invoice(healthy_stack, replicas, slow_mail, fresh_orders):
    # given three replicas sending a batch of invoices
    containers = replicas.start(3)
    try:
        docker("pause", *containers)
        numbers = enqueue_invoices(healthy_stack, [next(fresh_orders) for _ in range(INVOICES_PER_RUN)])
        docker("unpause", *containers)
        wait_for(lambda: sent(slow_mail, numbers) >= len(numbers) // 3, 120, "the batch never got going")

        # when one of them is SIGKILLed
        killed = time.monotonic()
        docker("kill", "-s", "KILL", containers[0])
        sent_before = sent(slow_mail, numbers)

        # then every invoice reaches the mail server, what the killed one held once its visibility timeout passed
        try:
            wait_for(
                lambda: sent(slow_mail, numbers) == len(numbers),
                REPLICA_VISIBILITY_TIMEOUT + 120,
                "invoices held by the killed replica never went out",
            )
        except AssertionError as missing:
            raise AssertionError(f"{missing}\n{where_unsent_invoices_are(healthy_stack, slow_mail, numbers)}") from None
    finally:
        replicas.remove(containers)
    # and each once, but for the commit gap (test_faults.py)
    twice = assert_once_but_for_the_commit_gap(invoice_copies(slow_mail, numbers), POOL_PER_REPLICA)
    print(
        f"\n{sent_before} of {len(numbers)} invoices out when one of 3 replicas was SIGKILLed; all out "
        f"{time.monotonic() - killed:.0f} s after (visibility timeout {REPLICA_VISIBILITY_TIMEOUT} s); "
        f"{twice} sent twice"
    )
