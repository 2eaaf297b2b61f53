"""The stack a person uses, for Playwright: gunicorn serving the app, a worker, beat, and Debian's Chromium."""

import os
import signal
import sys
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

from tests.factories import PASSWORD
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, shared_beat, wait_until

WEB_WORKERS = 2

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def sync_playwright_beside_django():
    """Playwright's sync API keeps an event loop on this thread; the ORM calls in tests are still plain
    synchronous calls, so Django's async guard would only get in the way."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def web_server_process(django_db_setup, django_db_blocker, process_logs, static_files):
    port = free_port()
    server = ManagedProcess(
        "web",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "myproject.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WEB_WORKERS),
            "--access-logfile",
            "-",
        ],
        process_env(DJANGO_MEDIA_ROOT=str(process_logs / "media")),
        process_logs,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base_url + "/login/"), 60, "gunicorn never answered", server)
    yield server, base_url
    server.stop()


@pytest.fixture
def web_server(web_server_process):
    """The site with fresh gunicorn workers for each test (SIGHUP starts new ones, the old finish and exit):
    between tests the database is flushed and its content types are created again under new ids, which
    workers that served an earlier test still hold in Django's cache and would write into admin's log."""
    server, base_url = web_server_process
    booted = server.output().count("Booting worker")
    server.signal(signal.SIGHUP)
    wait_until(lambda: server.output().count("Booting worker") >= booted + WEB_WORKERS, 60, "no new workers", server)
    wait_until(lambda: _answers(base_url + "/login/"), 60, "the new workers never answered", server)
    return base_url


@pytest.fixture
def live_beat(django_db_setup, process_logs, shared_processes_stopped_at_exit):
    return shared_beat(process_logs)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, web_server):
    context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(60_000)
    page = context.new_page()
    # Every browser test also checks that the Content-Security-Policy blocked nothing the page needs.
    refused = []
    page.on(
        "console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None
    )
    yield page
    context.close()
    assert not refused, f"the Content-Security-Policy refused: {refused}"


@pytest.fixture
def sign_in(page):
    return lambda user: sign_in_on(page, user)


def sign_in_on(page, user):
    """Signs `user` in through the login form of `page` (any context or screen size)."""
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("text=Sign out").count(), f"sign-in failed:\n{page.content()[:3000]}"
    return page


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False
