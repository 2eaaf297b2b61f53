"""Bad input and unwelcome visitors: pickle, malformed and unknown messages are refused without harm, bad
arguments end in a warning or a dead letter, bad files and tampered links change nothing, and pages, Flower
and /metrics keep strangers out."""

import base64
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from kombu import Connection, Queue

from accounts.models import Contact, ContactImport
from core.models import DeadLetter
from myproject.celery import app
from notifications.models import Subscriber
from notifications.services import subscriber_unsubscribe_url, subscribers_demo_create
from tests.factories import OrderFactory, StaffFactory
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def send_and_wait(worker, *, args, serializer="json", task="orders.send_invoice_email") -> str:
    result = app.send_task(task, args=args, queue="email", serializer=serializer)
    wait_until(lambda: result.id in worker.output(), 60, f"worker never saw {result.id}", worker)
    return result.id


def control_invoice_sent(worker, mailsink) -> None:
    """A JSON message with the same effect: proves the worker is alive and that execution would be seen."""
    control = OrderFactory()
    send_and_wait(worker, args=[control.pk])
    wait_until(lambda: mailsink.to(control.customer.email), 60, "control message did not run", worker)


def test_a_pickle_message_is_refused_and_never_executed(live_worker, mailsink):
    # given an order whose invoice a pickle message asks for
    order = OrderFactory()

    # when someone who can reach the broker injects it, and then a JSON control message runs
    app.send_task("orders.send_invoice_email", args=[order.pk], queue="email", serializer="pickle")
    control_invoice_sent(live_worker, mailsink)

    # then the pickle message was refused, not executed, and kept for a person to read
    assert DeadLetter.objects.filter(malformed=True, content_type="application/x-python-serialize").exists()
    assert mailsink.to(order.customer.email) == []


def test_malformed_and_unknown_messages_do_not_stop_the_worker(live_worker, mailsink):
    # given a message that is no task at all, and a task name nobody registered
    with Connection(app.conf.broker_url) as connection:
        connection.Producer(serializer="json").publish({"not": "a task"}, routing_key="email", declare=[Queue("email")])
    app.send_task("orders.drop_all_tables", args=[1], queue="email")

    # when a good message follows, then it still runs, and both bad ones are kept for a person to read
    control_invoice_sent(live_worker, mailsink)
    letters = DeadLetter.objects.filter(malformed=True)
    wait_until(
        lambda: letters.filter(task_name="orders.drop_all_tables").exists(), 30, "unknown task not kept", live_worker
    )
    wait_until(lambda: letters.filter(raw_body='{"not": "a task"}').exists(), 30, "non-task not kept", live_worker)


def test_a_wrong_argument_type_dead_letters_without_retrying(live_worker):
    # when a task receives text where an order id belongs
    task_id = send_and_wait(live_worker, args=["'; DROP TABLE orders_order; --"])

    # then it gave up at once and a person can see why
    letter = wait_until(lambda: DeadLetter.objects.filter(task_id=task_id).first(), 60, "no dead letter", live_worker)
    assert letter.attempts == 1
    assert "ValueError" in letter.exception


def test_a_nonexistent_id_is_logged_and_skipped(live_worker):
    # when a task names an order that does not exist
    task_id = send_and_wait(live_worker, args=[987654321])

    # then it is skipped with a warning: nothing to retry, nothing for a person to do
    wait_until(lambda: f"[{task_id}] succeeded" in live_worker.output(), 60, "task did not finish", live_worker)
    assert "skipped, object not found" in live_worker.output()
    assert not DeadLetter.objects.filter(task_id=task_id).exists()


def test_anonymous_visitors_are_sent_to_login_and_customers_see_only_their_orders(client):
    # given two customers' orders
    mine, theirs = OrderFactory(), OrderFactory()

    # then an anonymous visitor is redirected to log in, for pages and actions alike
    for path in (f"/orders/{mine.pk}/", "/orders/"):
        assert client.get(path).url.startswith("/login/")
    assert client.post(f"/orders/{mine.pk}/send-invoice/").url.startswith("/login/")

    # and a customer gets 404 for someone else's order, page and action
    client.force_login(mine.customer.user)
    assert client.get(f"/orders/{theirs.pk}/").status_code == 404
    assert client.post(f"/orders/{theirs.pk}/send-invoice/").status_code == 404


def test_a_post_without_csrf_token_is_forbidden():
    # given a logged-in customer whose browser is tricked into posting from another site
    order = OrderFactory()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(order.customer.user)

    # when the form is posted without the token, then it is refused
    assert browser.post(f"/orders/{order.pk}/send-invoice/").status_code == 403


def test_metrics_need_their_token(client, settings):
    settings.METRICS_TOKEN = "a-long-scrape-token-0123456789"

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"}).status_code == 200


def status_of(url: str, credentials: str | None = None) -> int:
    request = urllib.request.Request(url)
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_flower_refuses_missing_and_wrong_credentials(process_logs):
    # given Flower started the way the stack starts it
    port = free_port()
    flower = ManagedProcess(
        "flower",
        [sys.executable, "-m", "core.operations.flower"],
        process_env(
            FLOWER_BASIC_AUTH="ops:correct-horse-battery",
            FLOWER_PORT=str(port),
            PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        ),  # it execs `celery`
        process_logs,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until(lambda: status_of(url) != 0, 60, "Flower never listened", flower)

        # then no or wrong credentials get 401, the right ones get in
        assert status_of(url) == 401
        assert status_of(url, "ops:wrong-password") == 401
        assert status_of(url, "ops:correct-horse-battery") == 200
    finally:
        flower.stop()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("contacts.csv", b"", "empty"),
        ("contacts.csv", b"email,name\n" + "a@example.com,\xe9t\xe9\n".encode("latin-1"), "UTF-8"),
        ("contacts.csv", b"mail,fullname\nx@example.com,X\n", "email"),
        ("contacts.png", b"\x89PNG\r\n\x1a\n\x00\x00", "CSV"),
    ],
    ids=["empty", "wrong-encoding", "missing-columns", "not-csv"],
)
def test_a_bad_contact_file_gets_a_clear_400_and_changes_nothing(client, name, content, reason):
    client.force_login(StaffFactory())

    response = client.post("/imports/upload/", {"file": SimpleUploadedFile(name, content)})

    assert response.status_code == 400
    assert reason.lower() in response.content.decode().lower()
    assert not ContactImport.objects.exists() and not Contact.objects.exists()


def test_an_oversized_contact_file_is_refused(client, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1_000
    client.force_login(StaffFactory())
    rows = "".join(f"person{n}@example.com,Person {n}\n" for n in range(100)).encode()

    response = client.post("/imports/upload/", {"file": SimpleUploadedFile("big.csv", b"email,name\n" + rows)})

    assert response.status_code == 400 and "the limit is" in response.content.decode()
    assert not ContactImport.objects.exists()


def test_a_tampered_unsubscribe_link_is_refused_and_unsubscribes_no_one(client):
    subscribers_demo_create(count=1)
    subscriber = Subscriber.objects.get()
    path = subscriber_unsubscribe_url(subscriber=subscriber).split("://", 1)[-1].split("/", 1)[1]
    tampered = "/" + path.rstrip("/")[:-2] + "xx/"

    assert client.post("/" + path).status_code == 200  # control: the genuine link works…
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None
    Subscriber.objects.update(unsubscribed_at=None)

    response = client.post(tampered)

    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is None
