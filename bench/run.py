"""Runs every benchmark on this machine against real processes and writes BENCHMARKS.md (`make bench`)."""

import argparse
import atexit
import logging
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run" / "bench"
sys.path.insert(0, str(ROOT))

# Production settings, except what loopback cannot have: a TLS proxy in front.
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ["DJANGO_DEBUG"] = "0"
os.environ["DJANGO_SECURE_SSL_REDIRECT"] = "0"
os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
os.environ["PYTHONUNBUFFERED"] = "1"
# The import's largest size, 500,000 rows (about 30 MB), is above the upload limit of the web form (10 MB); the
# task streams its file in batches whatever its size, and that is what the size series measures.
os.environ["CONTACT_IMPORT_MAX_BYTES"] = "50_000_000"
os.environ.setdefault("DJANGO_MEDIA_ROOT", str(RUN_DIR / "media"))
RUN_DIR.mkdir(parents=True, exist_ok=True)
for old_log in RUN_DIR.glob("*.log"):  # each process appends to its log: keep only this run's
    old_log.unlink()

from core.devtools.embedded import EmbeddedPostgres  # noqa: E402
from tests.support.embedded import free_port, start_redis_server  # noqa: E402

_embedded_postgres = None
if "DATABASE_URL" not in os.environ:  # nothing configured: the embedded server, durable as production's
    _embedded_postgres = EmbeddedPostgres(data_dir=RUN_DIR / "postgres", port=free_port())
    _embedded_postgres.start(database="bench")
    os.environ["DATABASE_URL"] = _embedded_postgres.url("bench")
_embedded_redis = None
if "REDIS_URL" not in os.environ:
    _port = free_port()
    _embedded_redis = start_redis_server(port=_port)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{_port}/0"
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]


@atexit.register
def _stop_embedded_servers() -> None:
    """Whatever imported this harness (bench.tracing too) and however it ends, --help and errors included."""
    if _embedded_redis is not None:
        _embedded_redis.terminate()
        _embedded_redis.wait(timeout=10)
    if _embedded_postgres is not None:
        _embedded_postgres.stop()


def ensure_postgres_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


ensure_postgres_database(os.environ["DATABASE_URL"])
manage("migrate", "--noinput")
manage("collectstatic", "--noinput")

import django  # noqa: E402

django.setup()

import psutil  # noqa: E402
import yaml  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.db import transaction  # noqa: E402
from django.middleware.csrf import _get_new_csrf_string  # noqa: E402
from django.test import Client  # noqa: E402

from bench import probes, sizes  # noqa: E402
from bench import tasks as bench_tasks  # noqa: E402
from bench.bare_app import app as BARE_APP  # noqa: E402
from bench.load import Request, run_open_loop  # noqa: E402
from bench.realistic import counter_table_create  # noqa: E402
from core.devtools.mailsink import start_mailsink  # noqa: E402
from core.models import Job, OutboxMessage  # noqa: E402
from core.operations import health  # noqa: E402
from core.tasking import jobs, outbox  # noqa: E402
from notifications.models import Subscriber  # noqa: E402
from orders.models import Customer, Invoice, Order  # noqa: E402
from tests.support.processes import ManagedProcess, wait_until  # noqa: E402

WARM_UP_S = 3
THROUGHPUT_ROUNDS = 2
LIGHT_RATE = 20  # requests/s: far below what two cores serve, so no queueing inflates the ratio
BENCH_QUEUES = ("default", "email", "bulk", "celery", "unacked", "unacked_index", "unacked_mutex")


def process_env(**overrides: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(overrides)
    return env


def start_project_worker(
    name: str, *, queues: str = "default", concurrency: int = 2, extra: tuple[str, ...] = (), **env: str
) -> ManagedProcess:
    worker = ManagedProcess(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "myproject",
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
            "-I",
            "bench.tasks",
            *extra,
        ],
        process_env(**env),
        RUN_DIR,
    )
    worker.wait_for_output("ready.", timeout=90)
    return worker


def start_bare_worker(name: str, app: str = "bench.bare_app", extra: tuple[str, ...] = ()) -> ManagedProcess:
    """A worker of a plain Celery app in bench/: the bare yardstick, or the cookiecutter-django peer."""
    worker = ManagedProcess(
        name,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-n",
            f"{name}@%h",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            *extra,
        ],
        process_env(DJANGO_SETTINGS_MODULE="bench.settings_plain_django"),
        RUN_DIR,
    )
    worker.wait_for_output("ready.", timeout=90)
    return worker


def start_beat() -> ManagedProcess:
    beat = ManagedProcess(
        "beat",
        [sys.executable, "-m", "celery", "-A", "myproject", "beat", "--loglevel", "INFO"],
        process_env(),
        RUN_DIR,
    )
    wait_until(lambda: health.beat_heartbeat_age() is not None, 60, "beat never wrote its heartbeat", beat)
    return beat


def gunicorn_command(application: str, port: int) -> tuple[list[str], str]:
    """The production web-server configuration, on a loopback port."""
    command = [sys.executable, "-m", "gunicorn", application, "--bind", f"127.0.0.1:{port}"]
    if (ROOT / "gunicorn.conf.py").exists():
        return [*command, "--config", "gunicorn.conf.py"], "gunicorn.conf.py"
    fallback = ["--workers", "3", "--access-logfile", "-", "--timeout", "30"]
    return [*command, *fallback], "gunicorn.conf.py absent; args " + " ".join(fallback)


def start_web(name: str, application: str) -> tuple[ManagedProcess, int, str]:
    port = free_port()
    command, config = gunicorn_command(application, port)
    web = ManagedProcess(name, command, process_env(), RUN_DIR)
    wait_until(lambda: _listening(port), 60, f"{name} never listened", web)
    return web, port, config


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def reset_broker() -> None:
    probes.client().delete(*BENCH_QUEUES)
    probes.reset()


def signed_in_headers(user: User) -> dict:
    client = Client()
    client.force_login(user)
    token = _get_new_csrf_string()
    session = client.cookies["sessionid"].value
    return {"Host": "127.0.0.1", "Cookie": f"sessionid={session}; csrftoken={token}", "X-CSRFToken": token}


def bench_customer() -> Customer:
    user, _ = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})
    customer, _ = Customer.objects.get_or_create(user=user, defaults={"name": "Bench", "email": "bench@example.com"})
    return customer


def fresh_orders(customer: Customer, count: int) -> list[int]:
    orders = Order.objects.bulk_create([Order(customer=customer) for _ in range(count)], batch_size=1000)
    return [order.pk for order in orders]


def summary(values: list[float]) -> dict:
    ordered = sorted(values) or [float("nan")]
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "n": len(ordered),
    }


# --- 1 and 7: the web tier -------------------------------------------------------------------------------


def bench_web(duration: float, rate: float) -> dict:
    customer = bench_customer()
    headers = signed_in_headers(customer.user)
    segments = 2  # alternate with/without enqueue so machine noise hits both alike
    per_segment = duration / segments
    with_orders = fresh_orders(customer, int(rate * duration) + 10)
    without_orders = fresh_orders(customer, int(rate * duration) + 10)
    warm_with, warm_without = (fresh_orders(customer, int(rate * WARM_UP_S) + 10) for _ in range(2))
    light_orders_with, light_orders_without = (
        fresh_orders(customer, int(LIGHT_RATE * duration / 3) + 10) for _ in range(2)
    )
    reset_broker()
    worker = start_project_worker("web-worker", queues="default,bulk")  # email left queued: see BENCHMARKS.md
    beat = start_beat()  # /healthz answers 200 only with a beat heartbeat
    web, port, config = start_web("web", "myproject.wsgi:application")
    baseline, baseline_port, _ = start_web("web-without-enqueue", "bench.wsgi_without_enqueue:application")
    try:

        def send_invoice(order_ids: list[int], offset: int):
            return lambda index: Request(
                "POST", f"/orders/{order_ids[offset + index]}/send-invoice/", headers, frozenset({200, 302})
            )

        # Warm every gunicorn process (imports, templates, database connections) on the measured paths.
        warm_ups = []
        for warm_port, warm_orders in ((port, warm_with), (baseline_port, warm_without)):
            warm_ups.append(
                run_open_loop(port=warm_port, rate=rate, duration_s=WARM_UP_S, request_for=send_invoice(warm_orders, 0))
            )
            run_open_loop(
                port=warm_port,
                rate=rate,
                duration_s=WARM_UP_S,
                request_for=lambda i, orders=warm_orders: Request(
                    "GET", f"/orders/{orders[i]}/jobs/", headers, frozenset({200})
                ),
            )
        warm_up_with = warm_ups[0]
        with_enqueue, without_enqueue = [], []
        for segment in range(segments):
            offset = int(segment * per_segment * rate)
            with_enqueue.append(
                run_open_loop(
                    port=port, rate=rate, duration_s=per_segment, request_for=send_invoice(with_orders, offset)
                )
            )
            without_enqueue.append(
                run_open_loop(
                    port=baseline_port,
                    rate=rate,
                    duration_s=per_segment,
                    request_for=send_invoice(without_orders, offset),
                )
            )
        # Diagnosis: the same pair far from saturation, where the ratio is the enqueue's own cost.
        light_with = run_open_loop(
            port=port, rate=LIGHT_RATE, duration_s=duration / 3, request_for=send_invoice(light_orders_with, 0)
        )
        light_without = run_open_loop(
            port=baseline_port,
            rate=LIGHT_RATE,
            duration_s=duration / 3,
            request_for=send_invoice(light_orders_without, 0),
        )
        jobs_order = with_orders[0]
        healthz = run_open_loop(
            port=port,
            rate=rate,
            duration_s=duration / 2,
            request_for=lambda i: Request("GET", "/healthz", {"Host": "127.0.0.1"}, frozenset({200})),
        )
        jobs = run_open_loop(
            port=port,
            rate=rate,
            duration_s=duration / 2,
            request_for=lambda i: Request("GET", f"/orders/{jobs_order}/jobs/", headers, frozenset({200})),
        )
    finally:
        web.stop()
        baseline.stop()
        worker.stop()
        beat.stop()

    def merged(results):
        latencies = [value for result in results for value in result.latencies_ms]
        errors = [error for result in results for error in result.errors]
        sent = sum(result.sent for result in results)
        rate_achieved = sent / sum(result.duration_s for result in results)
        return {
            **summary(latencies),
            "errors": len(errors),
            "first_errors": errors[:3],
            "sent": sent,
            "rate": rate_achieved,
        }

    sent_with = sum(result.sent for result in with_enqueue)
    requested = Invoice.objects.filter(order_id__in=with_orders, requested_at__isnull=False).count()
    queued_emails = probes.client().llen("email")
    return {
        "config": config,
        "with": merged(with_enqueue),
        "without": merged(without_enqueue),
        "invoices_requested": requested,
        "sent_with": sent_with,
        "email_queue_length": queued_emails,
        "unmeasured_posts": warm_up_with.sent + light_with.sent,
        "light_with": merged([light_with]),
        "light_without": merged([light_without]),
        "healthz": merged([healthz]),
        "jobs": merged([jobs]),
    }


# --- 2 and 6: worker throughput and memory ---------------------------------------------------------------


def prefill(send, count: int) -> None:
    """`send(index)`: the realistic task touches the counter row of its index."""
    for index in range(count):
        send(index)


def drain(worker: ManagedProcess, count: int, rss_samples: list | None = None) -> float:
    def done():
        if rss_samples is not None:
            rss_samples.append((probes.done_count(), pool_rss(worker)))
        return probes.done_count() >= count

    wait_until(done, max(120, count / 50), f"{worker.name} did not finish {count} tasks", worker)
    return probes.done_rate()


def pool_rss(worker: ManagedProcess) -> list[int]:
    try:
        return [child.memory_info().rss for child in psutil.Process(worker.pid).children()]
    except psutil.Error:
        return []


def bench_throughput(count: int, *, quick: bool = False) -> dict:
    """The bare app and the project worker as configured, then one knob at a time to attribute the gap; the
    realistic task on both; the cookiecutter-django peer (bench/peer_app.py) with both tasks."""
    record_done = bench_tasks.record_done.apply_async
    slow_tasks = count // 5  # a database write per task or more: a fifth of the trivial count keeps runs short
    counter_table_create(slow_tasks)

    def counter_touch(send_task: str):
        return lambda index: BARE_APP.send_task(send_task, args=[index])

    # The peer's messages are sent through the bare app, which has no result backend: the harness then holds
    # no result subscription per message, and the peer worker still stores every result (its task default).
    variants = (
        ("bare", lambda _index: BARE_APP.send_task("bare.record_done"), lambda: start_bare_worker("bare-worker")),
        ("project", lambda _index: record_done(), lambda: start_project_worker("project-worker")),
        (
            "project_prefetch_4",
            lambda _index: record_done(),
            lambda: start_project_worker("project-prefetch-worker", extra=("--prefetch-multiplier", "4")),
        ),
        (
            "project_without_events",
            lambda _index: record_done(),
            lambda: start_project_worker(
                "project-quiet-worker", DJANGO_SETTINGS_MODULE="bench.settings_without_task_events"
            ),
        ),
        (
            "project_without_job_rows",
            lambda _index: bench_tasks.record_done_without_job_rows.apply_async(),
            lambda: start_project_worker("project-jobless-worker"),
        ),
        (
            "bare_with_events",
            lambda _index: BARE_APP.send_task("bare.record_done"),
            lambda: start_bare_worker("bare-events-worker", extra=("-E",)),
        ),
        (
            "bare_with_batched_events",
            lambda _index: BARE_APP.send_task("bare.record_done"),
            lambda: start_bare_worker("bare-batched-events-worker", app="bench.bare_app_batched_events", extra=("-E",)),
        ),
        (
            "project_stored",
            lambda _index: bench_tasks.record_done_stored.apply_async(),
            lambda: start_project_worker("project-stored-worker"),
        ),
        (
            "peer",
            lambda _index: BARE_APP.send_task("peer.record_done"),
            lambda: start_bare_worker("peer-worker", app="bench.peer_app"),
        ),
        (
            "bare_realistic",
            counter_touch("bare.counter_touch"),
            lambda: start_bare_worker("bare-realistic-worker"),
        ),
        (
            "project_realistic",
            lambda index: bench_tasks.counter_touch.apply_async(args=[index]),
            lambda: start_project_worker("project-realistic-worker"),
        ),
        (
            "peer_realistic",
            counter_touch("peer.counter_touch"),
            lambda: start_bare_worker("peer-realistic-worker", app="bench.peer_app"),
        ),
    )
    slow = {"project_stored", "bare_realistic", "project_realistic", "peer_realistic"}
    results: dict = {"slow_tasks": slow_tasks}
    # Interleaved rounds, best kept: noise only ever slows a run. One under --quick, which checks the harness.
    for _round in range(1 if quick else THROUGHPUT_ROUNDS):
        for label, send, start in variants:
            tasks = slow_tasks if label in slow else count
            reset_broker()
            prefill(send, tasks)
            worker = start()
            try:
                results[label] = max(results.get(label, 0.0), drain(worker, tasks))
            finally:
                worker.stop()
    return results


def bench_memory(count: int) -> dict:
    reset_broker()
    prefill(lambda _index: bench_tasks.record_done.apply_async(), count)
    samples: list = []
    # Recycling off, so the figure shows growth instead of hiding it behind fresh children.
    worker = start_project_worker("memory-worker", extra=("--max-tasks-per-child", "1000000"))
    try:
        drain(worker, count, samples)
        final = pool_rss(worker)
    finally:
        worker.stop()
    warm = next(rss for done, rss in samples if done >= count * 0.05 and rss)
    return {
        "warm_mb": [r / 2**20 for r in warm],
        "final_mb": [r / 2**20 for r in final],
        "growth": max(f / w - 1 for w, f in zip(warm, final, strict=False)),
    }


# --- 3: enqueue to start -----------------------------------------------------------------------------------


def bench_enqueue_to_start(samples: int) -> dict:
    """Through the product's path (outbox row, commit, publish) and, for the breakdown, a bare publish."""

    def through_outbox():
        with transaction.atomic():
            outbox.enqueue(bench_tasks.record_start, time.time())

    unmarked_rows = []

    def insert_then_publish():
        """The outbox's row and commit, then a publish, without its job row and its published mark."""
        sent_at = time.time()
        with transaction.atomic():
            row = OutboxMessage.objects.create(
                task_name=bench_tasks.record_start.name, queue=bench_tasks.record_start.queue, args=[sent_at]
            )
        unmarked_rows.append(row.pk)
        bench_tasks.record_start.apply_async(args=[sent_at], task_id=str(row.pk), headers={jobs.RECORDED_HEADER: True})

    def publish_only():
        # Marked as recorded, so the publish hook writes no job row: a publish and nothing else.
        bench_tasks.record_start.apply_async(args=[time.time()], headers={jobs.RECORDED_HEADER: True})

    reset_broker()
    worker = start_project_worker("latency-worker")
    figures = {}
    try:
        time.sleep(2)
        for label, enqueue in (
            ("outbox", through_outbox),
            ("insert_then_publish", insert_then_publish),
            ("publish", publish_only),
        ):
            probes.reset()
            for _ in range(samples):
                enqueue()
                time.sleep(0.05)  # an idle worker each time
            wait_until(lambda: len(probes.start_delays()) >= samples, 60, "start delays missing", worker)
            figures[label] = summary([delay * 1000 for delay in probes.start_delays()])
    finally:
        worker.stop()
        OutboxMessage.objects.filter(pk__in=unmarked_rows).delete()  # else the relay would send them again
    return figures


def bench_enqueue_cost(samples: int) -> dict:
    """The caller's time for one enqueue through the outbox, beside a bare INSERT + commit of the same row (and,
    to attribute the rest, the same with its job row) and a bare publish; interleaved, no worker running."""
    task = bench_tasks.record_done
    unpublished_rows = []

    def through_outbox():
        with transaction.atomic():
            outbox.enqueue(task)

    def insert_commit():
        with transaction.atomic():
            row = OutboxMessage.objects.create(task_name=task.name, queue=task.queue)
        unpublished_rows.append(row.pk)

    def insert_with_job_commit():
        with transaction.atomic():
            row = OutboxMessage.objects.create(task_name=task.name, queue=task.queue)
            jobs.job_queued(task_id=str(row.pk), task_name=task.name, args=[], kwargs={})
        unpublished_rows.append(row.pk)

    def bare_publish():
        # Marked as recorded, so this process's publish hook writes no job row: a publish and nothing else.
        BARE_APP.send_task("bare.record_done", headers={jobs.RECORDED_HEADER: True})

    measures = (
        ("outbox", through_outbox),
        ("insert_commit", insert_commit),
        ("insert_with_job_commit", insert_with_job_commit),
        ("bare_publish", bare_publish),
    )
    timings: dict = {label: [] for label, _ in measures}
    reset_broker()
    try:
        for sample in range(-10, samples):  # the first ten warm the connections and are dropped
            for label, measure in measures:
                started = time.perf_counter()
                measure()
                if sample >= 0:
                    timings[label].append((time.perf_counter() - started) * 1000)
    finally:
        # Unpublished rows would be sent by the relay of a later run: remove them and their job rows.
        Job.objects.filter(id__in=[str(pk) for pk in unpublished_rows]).delete()
        OutboxMessage.objects.filter(pk__in=unpublished_rows).delete()
        reset_broker()
    return {label: summary(values) for label, values in timings.items()}


# --- 4 and 5: bulk work on the production bulk worker (its concurrency read from docker-compose.yml) -----


def start_bulk_worker(name: str) -> ManagedProcess:
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker-bulk"]["command"]
    return start_project_worker(name, queues="bulk", concurrency=int(command[command.index("--concurrency") + 1]))


def bench_newsletter(sink, subscribers: int) -> dict:
    from notifications import services as notification_services
    from notifications.models import Newsletter
    from notifications.tasks import send_newsletter

    Subscriber.objects.all().delete()
    notification_services.subscribers_demo_create(count=subscribers)
    reset_broker()
    worker = start_bulk_worker("newsletter-worker")
    peak = [0]

    def sent():
        peak[0] = max([peak[0], *pool_rss(worker)])
        return Newsletter.objects.filter(pk=newsletter.pk, status=Newsletter.Status.SENT).exists()

    try:
        newsletter = notification_services.newsletter_create(
            subject=f"Bench newsletter {time.time_ns()}", body="Benchmarks say hello.", created_by=None
        )
        started = time.perf_counter()
        with transaction.atomic():
            notification_services.newsletter_start(newsletter=newsletter)
            outbox.enqueue(send_newsletter, newsletter.pk)
        wait_until(sent, max(600, subscribers / 50), "newsletter never finished", worker)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    with sink.lock:  # emptied after each size: a series keeps 100,000 parsed messages otherwise
        messages, sink.messages = sink.messages, []
    received = Counter(str(message["To"]) for message in messages if message["Subject"] == newsletter.subject)
    each_once = len(received) == subscribers and set(received.values()) == {1}
    return {
        "size": subscribers,
        "seconds": elapsed,
        "peak_mb": peak[0] / 2**20,
        "complete": each_once,
        "detail": f"{sum(received.values())} messages to {len(received)} addresses"
        f"{'' if each_once else ' (NOT each exactly once)'}",
    }


def bench_import(rows: int) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts import services as account_services
    from accounts.models import Contact, ContactImport
    from accounts.tasks import import_contacts

    Contact.objects.all().delete()  # each size starts from the same empty table
    run = time.time_ns()
    csv = "email,name\n" + "".join(f"contact{number}-{run}@example.com,Contact {number}\n" for number in range(rows))
    upload = SimpleUploadedFile("contacts.csv", csv.encode(), content_type="text/csv")
    reset_broker()
    worker = start_bulk_worker("import-worker")
    peak = [0]

    def finished():
        peak[0] = max([peak[0], *pool_rss(worker)])
        return ContactImport.objects.filter(pk=contact_import.pk, finished_at__isnull=False).exists()

    try:
        started = time.perf_counter()
        with transaction.atomic():
            contact_import = account_services.contact_import_create(
                uploaded_file=upload, created_by=bench_customer().user
            )
            outbox.enqueue(import_contacts, contact_import.pk)
        wait_until(finished, max(600, rows / 500), "import never finished", worker)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    contact_import.refresh_from_db()
    complete = contact_import.status == ContactImport.Status.DONE and contact_import.created == rows
    return {
        "size": rows,
        "seconds": elapsed,
        "peak_mb": peak[0] / 2**20,
        "complete": complete,
        "detail": f"{contact_import.created} created, {contact_import.failed_rows} failed ({contact_import.status})",
    }


def database_version() -> str:
    from django.db import connection

    number = connection.cursor().connection.info.server_version
    where = "embedded" if _embedded_postgres else "DATABASE_URL"
    return f"PostgreSQL {number // 10000}.{number % 10000} ({where})"


def store_version() -> str:
    """Valkey answers INFO with a Redis-compatible redis_version too; name the server that really runs."""
    info = probes.client().info("server")
    return f"Valkey {info['valkey_version']}" if "valkey_version" in info else f"Redis {info['redis_version']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs to debug the harness")
    parser.add_argument("--only", default="web,throughput,memory,latency,newsletter,import")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--note", default="", help="the conditions of this run, printed in the report")
    options = parser.parse_args()
    only = set(options.only.split(","))
    quick = options.quick
    controller, sink = start_mailsink(port=free_port())
    # aiosmtpd logs every SMTP command: a dozen lines per message, 1.2 million at the largest newsletter.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    os.environ["EMAIL_HOST"], os.environ["EMAIL_PORT"] = "127.0.0.1", str(controller.port)
    results: dict = {
        "started": datetime.now(UTC),
        "note": options.note,
        "database": database_version(),
        "redis": f"{store_version()} ({'embedded' if _embedded_redis else 'REDIS_URL'})",
        "load_at_start": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    try:
        if "web" in only:
            results["web"] = bench_web(duration=4 if quick else 30, rate=100)
        if "throughput" in only:
            results["throughput"] = bench_throughput(500 if quick else 5_000, quick=quick)
        if "memory" in only:
            results["memory"] = bench_memory(500 if quick else 10_000)
        if "latency" in only:
            results["latency"] = bench_enqueue_to_start(20 if quick else 200)
            results["enqueue_cost"] = bench_enqueue_cost(200 if quick else 2_000)
        if "newsletter" in only:
            results["newsletter"] = sizes.run_series(
                lambda size: bench_newsletter(sink, size),
                sizes.QUICK_NEWSLETTER_SIZES if quick else sizes.NEWSLETTER_SIZES,
            )
        if "import" in only:
            results["import"] = sizes.run_series(
                bench_import, sizes.QUICK_IMPORT_SIZES if quick else sizes.IMPORT_SIZES
            )
    finally:
        controller.stop()
    results["finished"] = datetime.now(UTC)
    from bench.report import write_report

    write_report(options.output, results, quick=quick)
    print(options.output.read_text())


if __name__ == "__main__":
    main()
