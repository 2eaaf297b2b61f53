"""The proxy compose puts in front of gunicorn (deploy/nginx), run here with Debian's nginx on loopback: a body
over the upload limit is refused 413 before gunicorn sees a byte of it, and one at the limit goes through."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from core.operations.middleware import MULTIPART_ALLOWANCE_BYTES
from tests.support.embedded import free_port
from tests.support.processes import ROOT, ManagedProcess, process_env, wait_until

NGINX = ROOT / "deploy" / "nginx"
UPLOAD_PATH = "/imports/upload/"

pytestmark = pytest.mark.django_db(transaction=True)


def upload_limit() -> int:
    """What the image's entrypoint computes from CONTACT_IMPORT_MAX_BYTES, by sourcing the same script."""
    script = f'. "{NGINX / "15-upload-limit.envsh"}"; printf %s "$UPLOAD_MAX_BODY_BYTES"'
    return int(subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout)


def proxy_config(folder, *, port: int, health_port: int, web_port: int) -> str:
    """The template as the image fills it in (envsubst of UPLOAD_MAX_BODY_BYTES only), with the three lines that
    name Docker's network moved to loopback: the listen ports and web's address (no resolver needed for an IP)."""
    rendered = subprocess.run(
        ["envsubst", "${UPLOAD_MAX_BODY_BYTES}"],
        input=(NGINX / "templates" / "default.conf.template").read_text(),
        env={"UPLOAD_MAX_BODY_BYTES": str(upload_limit())},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for docker_line, loopback_line in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{health_port};"),
        ("resolver 127.0.0.11 valid=10s ipv6=off;", ""),
        ("set $web http://web:8000;", f"set $web http://127.0.0.1:{web_port};"),
    ):
        assert docker_line in rendered, docker_line
        rendered = rendered.replace(docker_line, loopback_line)
    for temp in ("body", "proxy"):
        (folder / temp).mkdir(mode=0o777)
        (folder / temp).chmod(0o777)  # nginx's workers run as nobody
    return (
        f"daemon off; pid {folder}/nginx.pid; error_log stderr;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {folder}/body; proxy_temp_path {folder}/proxy;\n"
        f"{rendered}\n}}\n"
    )


def answer_to(port: int, declared_length: int, body: bytes = b"") -> int:
    """The status a POST to the upload URL gets when it declares `declared_length` bytes and sends `body`."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(
            f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {declared_length}\r\nConnection: close\r\n\r\n".encode()
        )
        connection.sendall(body)
        return int(connection.makefile("rb").readline().split()[1])


def sign_in_page_through(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_the_proxy_refuses_a_body_over_the_upload_limit_before_gunicorn_reads_it(stack_run_dir, process_logs):
    assert upload_limit() == settings.CONTACT_IMPORT_MAX_BYTES + MULTIPART_ALLOWANCE_BYTES
    web_port, port, health_port = free_port(), free_port(), free_port()
    folder = stack_run_dir  # where nginx's workers (nobody) reach their temporary files
    folder.mkdir()
    folder.chmod(0o755)
    (folder / "nginx.conf").write_text(proxy_config(folder, port=port, health_port=health_port, web_port=web_port))
    nginx = shutil.which("nginx", path=f"{os.environ['PATH']}:/usr/sbin")  # Debian's nginx-light
    with contextlib.ExitStack() as started:  # each process is stopped, whatever fails after it started
        web = ManagedProcess(
            "proxied-web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "myproject.wsgi",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--access-logfile=-",
            ],
            process_env(),
            process_logs,
        )
        started.callback(web.stop)
        proxy = ManagedProcess("proxy", [nginx, "-c", str(folder / "nginx.conf"), "-p", str(folder)], {}, process_logs)
        started.callback(proxy.stop)
        wait_until(lambda: "Booting worker" in web.output(), 60, "gunicorn never started", web)
        # a GET, so that no POST reaches gunicorn before the two below (its log line follows the response)
        wait_until(lambda: sign_in_page_through(port) == 200, 60, "the proxy never reached gunicorn", proxy)

        # when a request declares one byte over the limit, and another exactly the limit (sent in full)
        over = answer_to(port, upload_limit() + 1)
        at_limit = answer_to(port, upload_limit(), b"x" * upload_limit())

        # then nginx refuses the first itself, and only the second reaches gunicorn (Django: sign in first)
        assert over == 413
        assert at_limit != 413
        wait_until(lambda: f'"POST {UPLOAD_PATH} ' in web.output(), 30, "gunicorn never logged the upload", web)
        assert web.output().count(f'"POST {UPLOAD_PATH} ') == 1
