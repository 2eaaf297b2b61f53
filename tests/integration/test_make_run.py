"""`make run` (manage.py runstack) starts the whole stack without Docker, prints a working login, and
Ctrl-C stops every process it started."""

import base64
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from tests.support.processes import ROOT, ManagedProcess, descendants, fresh_clone_env, running, wait_until

# Installing nothing, but creating a PostgreSQL cluster, migrating it and starting eight processes on a busy machine.
READY_TIMEOUT_SECONDS = 240


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_in(base: str, username: str, password: str) -> tuple[str, urllib.request.OpenerDirector]:
    """Posts the login form as a browser would; returns the path it lands on and the signed-in opener."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = opener.open(base + "login/", timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf})
    with opener.open(base + "login/", data=data.encode(), timeout=10) as response:
        return urllib.parse.urlsplit(response.url).path, opener


def get(url: str, *, auth: tuple[str, str] | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


TASK_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# What each README command prints when it worked (a pattern).
README_COMMAND_OUTPUT = {
    "inspect registered": "orders.send_invoice_email",
    "call orders.send_invoice_email": TASK_ID,
    "call finance.sync_exchange_rates": TASK_ID,
    "check_queues": "default",
    "seed_demo": "20000 subscribers",
}


def readme_commands() -> list[tuple[str, str]]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    commands = [
        line for block in blocks for line in block.splitlines() if line.startswith(("make celery", "make manage"))
    ]
    found = [
        (command, output) for command in commands for key, output in README_COMMAND_OUTPUT.items() if key in command
    ]
    assert len(found) == len(commands) == len(README_COMMAND_OUTPUT), commands
    return found


def test_make_run_starts_everything_and_ctrl_c_stops_everything(tmp_path, stack_run_dir):
    env = fresh_clone_env(stack_run_dir)
    postgres_port, redis_port = int(env["EMBEDDED_POSTGRES_PORT"]), int(env["EMBEDDED_REDIS_PORT"])
    web_port, flower_port = int(env["WEB_PORT"]), int(env["FLOWER_PORT"])
    # As the README prints it: `make run WEB_PORT=8080 FLOWER_PORT=5556`, with every port moved to a free one.
    ports = [f"{name}={env.pop(name)}" for name in ("WEB_PORT", "FLOWER_PORT", "EMAIL_PORT")]
    stack = ManagedProcess("make-run", ["make", "run", *ports], env, tmp_path)
    base = f"http://127.0.0.1:{web_port}/"
    try:
        stack.wait_for_output("Ready in", timeout=READY_TIMEOUT_SECONDS)
        banner = stack.output()
        password = re.search(r"staff: admin / (\S+)\)", banner).group(1)

        with urllib.request.urlopen(base + "healthz", timeout=10) as health:
            assert health.status == 200
        landed, admin = log_in(base, "admin", password)
        assert landed == "/orders/"
        # Money from the embedded PostgreSQL reads as cents with its currency, never as a float or integer.
        orders_page = admin.open(base + "orders/", timeout=10).read().decode()
        amounts = re.findall(r"\d[\d.,]* EUR", orders_page)
        assert amounts and all(re.fullmatch(r"\d+\.\d\d EUR", amount) for amount in amounts), amounts
        # Every credential the banner prints works as printed, on the ports this stack moved to.
        flower_url, flower_user, flower_password = re.search(r"Flower:\s+(\S+)\s+\((\S+) / (\S+)\)", banner).groups()
        assert flower_url == f"http://127.0.0.1:{flower_port}/"
        assert get(flower_url + "workers", auth=(flower_user, flower_password)) == 200
        token, metrics_url = re.search(r"Bearer (\S+)' (\S+)", banner).groups()
        assert get(metrics_url, headers={"Authorization": f"Bearer {token}"}) == 200
        before_ready = banner[: banner.index("Ready in")]
        for queue in ("default", "email", "bulk"):  # Ready waits for every worker, not only for web
            assert re.search(rf"{queue}@\S+ ready\.", before_ready), queue

        # The README's command lines work as printed beside the running stack.
        for command, expected in readme_commands():
            result = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
            assert re.search(expected, result.stdout), f"{command}\n{result.stdout}"
        wait_until(lambda: list((stack_run_dir / "mail").glob("*.eml")), 60, "`make celery ... call` sent no mail")
        # Offline, the rates sync reads the local feed make run serves, and admin lists what it stored.
        rates_page = base + "admin/finance/exchangerate/?currency__exact=USD"
        wait_until(lambda: "1.0842" in admin.open(rates_page, timeout=10).read().decode(), 60, "no rates synced")

        # A second stack on the same ports refuses at once instead of announcing the first one as ready.
        second = ManagedProcess("make-run-2", ["make", "run", *ports], env, tmp_path)
        wait_until(lambda: not second.alive(), 60, "a second stack on busy ports kept running", None)
        assert f"Port {web_port} is already in use" in second.output()
        assert "Ready in" not in second.output()
        started = descendants(stack.pid)
        assert len(started) >= 10  # honcho, web, three workers and their pools, beat, Flower, relay, mail
        assert port_open(postgres_port) and port_open(redis_port)

        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        wait_until(lambda: not stack.alive(), 60, "runstack did not exit after Ctrl-C", None)
        wait_until(lambda: not any(running(pid) for pid in started), 30, "processes outlived runstack")
    finally:
        stack.stop()

    assert not port_open(postgres_port)
    assert not port_open(redis_port)
    assert not port_open(web_port)
