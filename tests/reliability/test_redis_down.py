"""Redis dead or frozen under a running site: signed-in pages still answer, a click still says "queued", and
every clicked task runs once Redis is back. The Redis here is the shipped single one: cache, broker, locks,
heartbeats and metrics (on the RabbitMQ pass it is everything but the broker)."""

import http.cookiejar
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from core.models import OutboxMessage
from orders.models import Invoice
from tests.factories import OrderFactory, StaffFactory
from tests.reliability.conftest import broker_is_redis
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, start_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CLICKS_PER_OUTAGE = 4


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a signed-out page would redirect to the login page: report the 302 instead


class Browser:
    """A signed-in person: a cookie jar, and the time each request took."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirects)

    def request(self, path: str, form: dict | None = None, headers: dict | None = None) -> tuple[int, str, float]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers or {})
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=60) as response:
                status, body = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode(errors="replace")
        return status, body, time.monotonic() - started

    def csrf_token(self) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == "csrftoken")

    def log_in(self, username: str) -> None:
        self.request("/login/")
        status, body, _ = self.request(
            "/login/", {"username": username, "password": "a-good-password", "csrfmiddlewaretoken": self.csrf_token()}
        )
        assert status == 302, body[:500]

    def click_send_invoice(self, order_id: int) -> tuple[int, str, float]:
        """The button as htmx sends it: one POST, answered with the jobs panel."""
        return self.request(
            f"/orders/{order_id}/send-invoice/", {}, {"HX-Request": "true", "X-CSRFToken": self.csrf_token()}
        )


def use_the_site(browser: Browser, orders) -> dict[str, list[float]]:
    """Open the pages and click Send invoice once per order; every answer must be the one a person expects."""
    seconds: dict[str, list[float]] = {"/orders/": [], "/operations/": [], "order page": [], "click": []}
    for order in orders:
        for page, path in (
            ("/orders/", "/orders/"),
            ("/operations/", "/operations/"),
            ("order page", f"/orders/{order.pk}/"),
        ):
            status, body, took = browser.request(path)
            assert status == 200 and "Sign out" in body, f"{path} answered {status}: {body[:300]}"
            seconds[page].append(took)
        status, body, took = browser.click_send_invoice(order.pk)
        assert status == 200 and f"Invoice {Invoice.objects.get(order=order).number} queued." in body, body[:500]
        seconds["click"].append(took)
    status, _, took = browser.request("/healthz")
    assert status == 200  # web still serves from its database: the load balancer keeps it in rotation
    seconds["healthz"] = [took]
    status, body, took = browser.request("/healthz/system")
    assert status == 503 and "redis" in body  # the operator's report names the outage instead of hanging
    seconds["healthz/system"] = [took]
    return seconds


def test_signed_in_pages_and_clicks_survive_redis_killed_then_frozen(private_redis, mailsink, process_logs):
    # given the site (gunicorn with the shipped config), a worker and the outbox relay, all on one Redis
    broker = private_redis.url if broker_is_redis() else settings.CELERY_BROKER_URL
    env = {
        "REDIS_URL": private_redis.url,
        "CELERY_BROKER_URL": broker,
        "DJANGO_MEDIA_ROOT": str(process_logs / "media"),
    }
    port = free_port()
    web = ManagedProcess(
        "redis-down-web",
        [sys.executable, "-m", "gunicorn", "myproject.wsgi", "-c", "gunicorn.conf.py"],
        process_env(WEB_BIND_ADDRESS="127.0.0.1", WEB_PORT=str(port), WEB_CONCURRENCY="2", **env),
        process_logs,
    )
    worker = start_worker(process_logs, name="redis-down-worker", **env)
    relay = ManagedProcess(
        "redis-down-relay",
        [sys.executable, "manage.py", "relay_outbox", "--interval", "0.2"],
        process_env(**env),
        process_logs,
    )
    staff = StaffFactory()
    orders = [OrderFactory() for _ in range(2 * CLICKS_PER_OUTAGE)]
    try:
        web.wait_for_output("Booting worker", timeout=60)
        browser = Browser(f"http://127.0.0.1:{port}")
        browser.log_in(staff.username)

        # when Redis is killed, then the pages are opened and Send invoice clicked
        private_redis.kill()
        killed = use_the_site(browser, orders[:CLICKS_PER_OUTAGE])

        # and when a restarted Redis freezes (SIGSTOP), the same again
        private_redis.start()
        private_redis.process.send_signal(signal.SIGSTOP)
        frozen = use_the_site(browser, orders[CLICKS_PER_OUTAGE:])

        # then every answer above was the page a person expects (asserted in use_the_site), and once Redis
        # is back every clicked task runs exactly once and every invoice is emailed once
        private_redis.process.send_signal(signal.SIGCONT)
        for order in orders:
            wait_until(
                lambda order=order: mailsink.to(order.customer.email), 180, "a clicked invoice never ran", worker
            )
        assert [len(mailsink.to(order.customer.email)) for order in orders] == [1] * len(orders)
        # the send is recorded when the worker's transaction commits, just after the SMTP server took the mail
        wait_until(
            lambda: Invoice.objects.filter(order__in=orders, sent_at__isnull=False).count() == len(orders),
            30,
            "a sent invoice was never recorded",
            worker,
        )
        runs = [worker.output().count(f"{task_id}] succeeded") for task_id in _task_ids(orders)]
        assert runs == [1] * len(orders)
    finally:
        private_redis.process.send_signal(signal.SIGCONT)
        for process in (relay, worker, web):
            process.stop()
    print(f"\nRedis killed: {_summary(killed)}\nRedis frozen: {_summary(frozen)}")


def _task_ids(orders):
    return [
        message.pk
        for order in orders
        for message in OutboxMessage.objects.filter(task_name="orders.send_invoice_email", args=[order.pk])
    ]


def _summary(seconds: dict[str, list[float]]) -> str:
    return ", ".join(f"{name} {min(values):.2f}–{max(values):.2f}s" for name, values in seconds.items())
