"""The running compose stack that scripts/compose-ci started: its settings (the env file compose read), the
compose command that drives it, and a browser-like HTTP session on its published ports."""

import base64
import http.cookiejar
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Measured: about two minutes on two shared cores with warm images; five leaves room for a cold page cache.
HEALTHY_TIMEOUT_SECONDS = 300
DEMO_PASSWORD = "compose-demo-password"
MAILPIT_PAGE = 5_000
# A page answers in well under a second on a quiet machine; a browser would wait this long on a starved one
# (sign-in took over 10 s at a load average of 30).
HTTP_TIMEOUT_SECONDS = 30


def pytest_ignore_collect(collection_path, config):
    """Only `make compose-up-test` runs these (with tests/compose/pytest.ini): `make test` has no stack."""
    return config.inipath != Path(__file__).with_name("pytest.ini")


def pytest_collection_modifyitems(items):
    """Tracing, scale-out, then the faults, after the rest: they recreate or stop services, and send invoices
    (Flower lists their tasks) that the other tests must not see."""
    items.sort(
        key=lambda item: {"test_traces.py": 1, "test_scale_out.py": 2, "test_faults.py": 3}.get(item.path.name, 0)
    )


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def wait_for(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} (waited {timeout:.0f} s)")
        time.sleep(every)


@dataclass
class Stack:
    env_file: Path
    env: dict[str, str] = field(init=False)

    def __post_init__(self):
        self.env = read_env_file(self.env_file)

    def compose(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        """`env` overrides the env file's values for this command: compose prefers the shell's variables."""
        result = subprocess.run(
            ["docker-compose", "--env-file", str(self.env_file), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **env} if env else None,
        )
        if check and result.returncode:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def containers(self) -> dict[str, dict]:
        """Each container's `docker inspect` record, by compose service name."""
        ids = self.compose("ps", "-q", "--all").split()
        records = (
            json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout)
            if ids
            else []
        )
        return {record["Config"]["Labels"]["com.docker.compose.service"]: record for record in records}

    def container_id(self, service: str) -> str:
        [container] = self.compose("ps", "-q", service).split()
        return container

    def django(self, code: str) -> str:
        """Runs Python in the web container with Django set up, as an operator's `manage.py shell -c`; its output."""
        return self.compose("exec", "-T", "web", "python", "manage.py", "shell", "--verbosity", "0", "-c", code)

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT_SECONDS) -> None:
        """Until every service of `docker-compose up` is healthy (migrate: completed)."""
        config = yaml.safe_load(self.compose("config"))["services"]
        services = {name for name, service in config.items() if not service.get("profiles")}
        try:
            wait_for(
                lambda: (c := self.containers()).keys() >= services and all(map(service_ready, c.values())),
                timeout,
                "not every service became healthy",
            )
        except AssertionError as timeout_error:
            raise AssertionError(f"{timeout_error}:\n{self.compose('ps')}") from None

    def url(self, service: str, path: str = "") -> str:
        """The service's address as published on this machine."""
        if service == "web":
            return f"http://{self.env['WEB_PUBLISH']}/{path}"
        return f"http://127.0.0.1:{self.env[f'{service.upper()}_PUBLISH_PORT']}/{path}"


def service_ready(record: dict) -> bool:
    """Healthy, or for a one-shot service (never restarted: migrate): exited 0."""
    state = record["State"]
    if record["HostConfig"]["RestartPolicy"]["Name"] == "no":
        return state["Status"] == "exited" and state["ExitCode"] == 0
    return state.get("Health", {}).get("Status") == "healthy"


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(Path(os.environ["COMPOSE_CI_ENV_FILE"]))


@pytest.fixture(scope="session")
def healthy_stack(stack) -> Stack:
    """Waits until every service of `docker-compose up` is healthy (migrate: completed)."""
    stack.wait_healthy()
    # Figures for docs/docker.md, printed with -s: time to healthy and each service's memory at rest.
    up_at = float(os.environ.get("COMPOSE_CI_UP_AT", "0"))
    if up_at:
        print(f"\nall {len(stack.containers())} services healthy {time.time() - up_at:.0f} s after `up`")
    print(
        subprocess.run(
            ["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"], capture_output=True, text=True
        ).stdout
    )
    return stack


class LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    """Browsers send Secure cookies to http://127.0.0.1 and http://localhost (a secure context); urllib does not."""

    def return_ok_secure(self, cookie, request):
        return urllib.parse.urlsplit(request.full_url).hostname in (
            "127.0.0.1",
            "localhost",
        ) or super().return_ok_secure(cookie, request)


class Browser:
    """Cookies and CSRF as a browser keeps them."""

    def __init__(self, base: str):
        self.base = base
        cookies = http.cookiejar.CookieJar(policy=LoopbackIsSecure())
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.read().decode()

    def post(self, path: str, fields: dict) -> tuple[str, str]:
        """Posts `fields` to `path` as its own form would; returns the landing path and body."""
        request = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(fields).encode(), headers={"Referer": self.base + path}
        )
        with self.opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()

    def csrf_token(self, form_page: str) -> str:
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(form_page)).group(1)

    def post_file(self, path: str, form_page: str, field: str, filename: str, content: bytes) -> tuple[int, str, str]:
        """Uploads `content` as the form of `form_page` would (multipart, with its CSRF token); returns the status,
        the landing path and the body."""
        boundary = f"----compose-test-{uuid.uuid4().hex}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{self.csrf_token(form_page)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        request = urllib.request.Request(
            self.base + path,
            data=head + content + f"\r\n--{boundary}--\r\n".encode(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Referer": self.base + form_page},
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, urllib.parse.urlsplit(response.url).path, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, path, error.read().decode(errors="replace")

    def post_form(self, path: str, form_page: str, fields: dict | None = None) -> tuple[str, str]:
        """Posts the form of `form_page` to `path` with its CSRF token; returns the landing path and body."""
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": self.csrf_token(form_page), **(fields or {})}).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + form_page})
        with self.opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return urllib.parse.urlsplit(response.url).path, response.read().decode()


def http_get(url: str, *, basic: tuple[str, str] | None = None, bearer: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture(scope="session")
def staff(healthy_stack) -> Browser:
    """The README's one line for demo data and a staff account, then a signed-in staff session."""
    healthy_stack.compose("exec", "-T", "web", "python", "manage.py", "seed_demo", "--password", DEMO_PASSWORD)
    browser = Browser(healthy_stack.url("web"))
    landing, _ = browser.post_form("login/", "login/", {"username": "admin", "password": DEMO_PASSWORD})
    assert landing == "/orders/"
    return browser


class Mailpit:
    def __init__(self, base: str):
        self.base = base

    def messages(self) -> list[dict]:
        """Every message, newest first (Mailpit's API pages them, 50 by default)."""
        status, body = http_get(self.base + f"api/v1/messages?limit={MAILPIT_PAGE}")
        assert status == 200
        listing = json.loads(body)
        assert listing["count"] == listing["messages_count"], "more messages than one page of the mail service"
        return listing["messages"]

    def wait_for_subject(self, subject: str, timeout: float = 60) -> dict:
        summary = wait_for(
            lambda: next((m for m in self.messages() if m["Subject"] == subject), None),
            timeout,
            f"no email “{subject}” reached the mail service",
        )
        status, body = http_get(self.base + f"api/v1/message/{summary['ID']}")
        assert status == 200
        return json.loads(body)

    def part(self, message_id: str, part_id: str) -> bytes:
        status, body = http_get(self.base + f"api/v1/message/{message_id}/part/{part_id}")
        assert status == 200
        return body


@pytest.fixture(scope="session")
def mailpit(healthy_stack) -> Mailpit:
    return Mailpit(healthy_stack.url("mailpit"))


def orders_without_invoice(stack: Stack, count: int) -> list[int]:
    """`count` orders that no test has invoiced: demo customers added (four orders each) past those there."""
    existing = int(stack.django("from orders.models import Customer; print(Customer.objects.count())"))
    stack.compose(
        "exec", "-T", "web", "python", "manage.py", "seed_demo",
        "--customers", str(existing + count // 4 + 1), "--password", DEMO_PASSWORD,
    )  # fmt: skip
    free = json.loads(
        stack.django(
            "import json; from orders.models import Order; "
            "free = Order.objects.filter(invoice__isnull=True).order_by('-pk'); "
            "print(json.dumps(list(free.values_list('pk', flat=True))))"
        )
    )
    assert len(free) >= count
    return free[:count]


def invoice_copies(mail: Mailpit, numbers: list[str]) -> dict[str, list[str]]:
    """The Message-IDs of the emails the mail service holds for each invoice number."""
    copies = {number: [] for number in numbers}
    for message in mail.messages():
        number = message["Subject"].removeprefix("Your invoice ")
        if number in copies:
            copies[number].append(message["MessageID"])
    return copies


def assert_once_but_for_the_commit_gap(copies: dict[str, list[str]], pool_processes: int) -> int:
    """Each invoice once, except a send a SIGKILL cut after the server accepted the mail and before the invoice's
    sent mark committed (milliseconds, see orders.services.invoice_send): it cannot be told from a send cut before
    acceptance, so it goes again, under the same Message-ID for mail clients to fold. A pool process is in that
    gap at most once when the kill lands. Returns how many went twice."""
    repeated = {number: ids for number, ids in copies.items() if len(ids) > 1}
    assert all(len(ids) <= 2 and len(set(ids)) == 1 for ids in copies.values()), repeated
    assert len(repeated) <= pool_processes, repeated
    return len(repeated)


class FormFields(HTMLParser):
    """What a browser would submit for the page's form as it stands: inputs, checked boxes, selected options
    and text areas (submit buttons left out)."""

    def __init__(self, html: str):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._select = self._textarea = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.fields[name] = attrs.get("value", "on" if attrs.get("type") == "checkbox" else "")
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.fields[self._select] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
