"""Task messages no worker can read, sent straight to every queue on the configured broker: each is
acknowledged and kept as a dead letter with its raw body and headers, logged once, and the same worker process
goes on to run the next good task."""

import uuid

import pytest
from django.conf import settings
from kombu import Connection

from core.models import DeadLetter
from myproject.celery import app
from tests.reliability import probe_runs
from tests.support.processes import start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = ("default", "email", "bulk")
TASK = "tests.record_run"
JSON = ("application/json", "utf-8")


def headers(**changes) -> dict:
    """Protocol 2 headers as Celery writes them, with the changes a broken producer made."""
    task_id = str(uuid.uuid4())
    base = {
        "lang": "py",
        "task": TASK,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "('x',)",
        "kwargsrepr": "{}",
        "origin": "a broken producer",
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not ...}


GOOD_BODY = b'[["x"], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'

# (what is wrong, raw body, headers, content type and encoding)
MALFORMED = [
    ("body is a JSON string", b'"send the invoice"', headers(), JSON),
    ("body is a JSON object", b'{"args": ["x"], "kwargs": {}}', headers(), JSON),
    ("body has two elements", b'[["x"], {}]', headers(), JSON),
    ("body has four elements", b'[["x"], {}, {}, {}]', headers(), JSON),
    ("args are not a list", b'["x", {}, {}]', headers(), JSON),
    ("kwargs are not an object", b'[["x"], ["y"], {}]', headers(), JSON),
    ("callbacks are not a list", b'[["x"], {}, {"callbacks": "x"}]', headers(), JSON),
    ("timelimit is three values", GOOD_BODY, headers(timelimit=[1, 2, 3]), JSON),
    ("timelimit is text", GOOD_BODY, headers(timelimit="soon"), JSON),
    ("eta is not a date", GOOD_BODY, headers(eta="tomorrow-ish"), JSON),
    ("expires is a number", GOOD_BODY, headers(expires=12), JSON),
    ("retries is text", GOOD_BODY, headers(retries="three"), JSON),
    ("argsrepr is a number", GOOD_BODY, headers(argsrepr=42), JSON),
    ("no task header", GOOD_BODY, headers(task=...), JSON),
    ("unknown task name", GOOD_BODY, headers(task="orders.drop_all_tables"), JSON),
    ("unknown content type", GOOD_BODY, headers(), ("application/x-unknown", "utf-8")),
    ("pickle content type", b"\x80\x04K\x01.", headers(), ("application/x-python-serialize", "binary")),
    ("unknown encoding", GOOD_BODY, headers(), ("application/json", "x-klingon")),
    ("invalid JSON", b'[["x"], {}, {', headers(), JSON),
    ("bytes that are not UTF-8", b'[["\xff\xfe"], {}, {}]', headers(), JSON),
]


def publish_raw(connection, queue: str, body: bytes, message_headers: dict, content: tuple[str, str]) -> None:
    content_type, content_encoding = content
    connection.Producer().publish(
        body,
        routing_key=queue,
        declare=[app.amqp.queues[queue]],
        headers=message_headers,
        content_type=content_type,
        content_encoding=content_encoding,
    )


def test_unreadable_messages_on_every_queue_are_dead_lettered_and_the_worker_keeps_serving(process_logs):
    # given one worker on every queue
    probe_runs.reset()
    worker = start_worker(process_logs, name="malformed", extra=("-I", "tests.reliability.probe_tasks"))

    try:
        # when every kind of unreadable message reaches every queue, and then one good task per queue
        with Connection(settings.CELERY_BROKER_URL) as connection:
            for queue in QUEUES:
                for _, body, message_headers, content in MALFORMED:
                    publish_raw(connection, queue, body, message_headers, content)
        for queue in QUEUES:
            app.send_task(TASK, args=[f"good on {queue}"], queue=queue)

        # then the good tasks run, in the worker process that read all the bad ones
        expected_runs = sorted(f"good on {queue}" for queue in QUEUES)
        wait_until(lambda: probe_runs.runs() == expected_runs, 60, "a good task did not run", worker)
        unreadable = len(MALFORMED) * len(QUEUES)
        wait_until(
            lambda: DeadLetter.objects.filter(malformed=True).count() == unreadable,
            60,
            "not every unreadable message was dead-lettered",
            worker,
        )
        assert worker.alive()
        assert "Unrecoverable error" not in worker.output()

        # and each dead letter holds the message as it arrived, with the reason, logged once
        for queue in QUEUES:
            letters = DeadLetter.objects.filter(malformed=True, queue=queue)
            stored = sorted((letter.raw_body, letter.content_type, letter.content_encoding) for letter in letters)
            sent = sorted((body.decode("utf-8", "backslashreplace"), *content) for _, body, _, content in MALFORMED)
            assert stored == sent
            assert all(letter.exception and letter.raw_headers for letter in letters)
        assert DeadLetter.objects.filter(task_name="orders.drop_all_tables", malformed=True).count() == len(QUEUES)
        assert worker.output().count("dead-lettered as") == unreadable
    finally:
        worker.stop()


def test_an_unreadable_message_is_shown_to_operators_to_read_not_to_retry(admin_client):
    # given an unreadable message kept by a worker
    letter = DeadLetter.objects.create(
        task_id="malformed-1",
        task_name="orders.send_invoice_email",
        queue="email",
        malformed=True,
        exception="the body is not the three-element list [args, kwargs, embed]: a str",
        raw_body='"send the invoice"',
        raw_headers='{"task": "orders.send_invoice_email"}',
        content_type="application/json",
        content_encoding="utf-8",
    )
    # when staff open the operations page and the letter in admin
    operations = admin_client.get("/operations/live/").content.decode()
    admin_page = admin_client.get(f"/admin/core/deadletter/{letter.pk}/change/").content.decode()

    # then they see it as unreadable with a way to read it, not a retry button, and admin shows the raw message
    assert "unreadable message" in operations and f"/admin/core/deadletter/{letter.pk}/change/" in operations
    assert f"/operations/dead-letters/{letter.pk}/retry/" not in operations
    assert "send the invoice" in admin_page and "three-element list" in admin_page
    # and a retry forced by hand is refused
    assert admin_client.post(f"/operations/dead-letters/{letter.pk}/retry/").status_code == 404
