"""Load: 50 simulated customers clicking Send invoice for a minute against gunicorn, with a worker running:
no 5xx, every queued task completed, every invoice emailed once."""

import http.cookiejar
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from core.models import OutboxMessage
from tests.factories import PASSWORD, OrderFactory
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 50
DURATION_SECONDS = 60


class Customer(threading.Thread):
    """One browser session: log in, then open the order and click Send invoice until time is up."""

    def __init__(self, base_url: str, username: str, order_id: int, deadline: float):
        super().__init__(daemon=True)
        self.base_url, self.username, self.order_id, self.deadline = base_url, username, order_id, deadline
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.statuses: list[int] = []
        self.click_seconds: list[float] = []
        self.error: BaseException | None = None

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base_url + path, data=data, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def csrf_token(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")

    def run(self):
        try:
            self.sign_in_and_click()
        except BaseException as error:  # a thread's exception would otherwise only be printed
            self.error = error

    def sign_in_and_click(self):
        self.request("/login/")
        status, _ = self.request(
            "/login/", {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": self.csrf_token()}
        )
        self.statuses.append(status)
        while True:  # at least one click each, however long a loaded machine took to sign everyone in
            status, page = self.request(f"/orders/{self.order_id}/")
            self.statuses.append(status)
            started = time.monotonic()
            status, page = self.request(
                f"/orders/{self.order_id}/send-invoice/", {"csrfmiddlewaretoken": self.csrf_token()}
            )
            self.click_seconds.append(time.monotonic() - started)
            self.statuses.append(status)
            assert re.search(r"queued|already sent", page), page[:500]
            if time.monotonic() >= self.deadline:
                break


def test_fifty_customers_clicking_for_a_minute(live_worker, mailsink, process_logs):
    # given 50 customers with an order each, a gunicorn serving the site and a worker
    orders = [OrderFactory() for _ in range(USERS)]
    port = free_port()
    web = ManagedProcess(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "myproject.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "8",
        ],
        process_env(),
        process_logs,
    )
    try:
        web.wait_for_output("Booting worker", timeout=60)

        # when they all log in and click for a minute
        deadline = time.monotonic() + DURATION_SECONDS
        customers = [
            Customer(f"http://127.0.0.1:{port}", order.customer.user.username, order.pk, deadline) for order in orders
        ]
        for customer in customers:
            customer.start()
        for customer in customers:
            customer.join(timeout=DURATION_SECONDS + 120)
    finally:
        web.stop()

    # then every customer clicked, no request failed, and every queued task ran on the worker and every
    # invoice arrived once
    unfinished = [(each.username, each.error) for each in customers if each.is_alive() or each.error]
    assert not unfinished, f"customers who never finished clicking: {unfinished}"
    statuses = [status for customer in customers for status in customer.statuses]
    clicks = sorted(seconds for customer in customers for seconds in customer.click_seconds)
    assert not [status for status in statuses if status >= 500]
    assert set(statuses) == {200}
    task_ids = [str(pk) for pk in OutboxMessage.objects.values_list("pk", flat=True)]
    wait_until(
        lambda: all(f"[{task_id}] succeeded" in live_worker.output() for task_id in task_ids),
        120,
        "a queued task never completed",
        live_worker,
    )
    assert [len(mailsink.to(order.customer.email)) for order in orders] == [1] * USERS
    print(
        f"\nload: {len(clicks)} clicks in {DURATION_SECONDS}s ({len(clicks) / DURATION_SECONDS:.1f}/s), "
        f"{len(task_ids)} tasks queued; click latency p50 {statistics.median(clicks) * 1000:.0f} ms, "
        f"p95 {clicks[int(len(clicks) * 0.95)] * 1000:.0f} ms, max {clicks[-1] * 1000:.0f} ms"
    )
