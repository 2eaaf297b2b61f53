"""Limits before parsing: an oversized upload, by staff or anonymously, is refused over real HTTP by gunicorn
with the production config while the client is still sending, and no temporary file grows on the server."""

import http.cookiejar
import socket
import sys
import urllib.parse
import urllib.request

import pytest

from accounts.models import ContactImport
from tests.factories import StaffFactory
from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-good-password"  # tests.factories.UserFactory's
DECLARED_BYTES = 200_000_000  # the probe's upload
SENT_BYTES = 1_000_000  # what the client sends before it waits for an answer
BOUNDARY = "limit-test-boundary"


@pytest.fixture
def web(process_logs, tmp_path):
    """gunicorn with gunicorn.conf.py, its temporary files in a directory of their own."""
    temp_dir = tmp_path / "server-tmp"
    temp_dir.mkdir()
    port = free_port()
    server = ManagedProcess(
        f"gunicorn-limits-{port}",
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "myproject.wsgi"],
        process_env(WEB_BIND_ADDRESS="127.0.0.1", WEB_PORT=str(port), WEB_CONCURRENCY="1", TMPDIR=str(temp_dir)),
        process_logs,
    )
    server.wait_for_output("Booting worker", timeout=60)
    yield port, temp_dir
    server.stop()


def signed_in_cookies(port: int, user=None) -> dict[str, str]:
    """The cookies of a browser that opened the sign-in page, and signed in if a user is given."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    opener.open(base + "/login/", timeout=30).read()
    if user is not None:
        csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode({"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf})
        opener.open(base + "/login/", data=form.encode(), timeout=30).read()
    return {cookie.name: cookie.value for cookie in jar}


def post_partially(port: int, cookies: dict[str, str], *, chunked: bool = False) -> tuple[bytes, int]:
    """Starts a 200 MB contact upload, sends 1 MB of it, then reads the answer; returns it and the bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        length_header = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {DECLARED_BYTES}"
        connection.sendall(
            (
                "POST /imports/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{length_header}\r\n"
                f"Cookie: {'; '.join(f'{name}={value}' for name, value in cookies.items())}\r\n\r\n"
            ).encode()
        )
        part = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{cookies.get('csrftoken', '')}\r\n"
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="contacts.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nemail,name\r\n"
        ).encode() + b"x" * SENT_BYTES
        connection.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        answer = connection.recv(65536)
    return answer, len(part)


def status_and_location(answer: bytes) -> tuple[int, str]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers.get("Location", "")


def temp_bytes(temp_dir) -> int:
    return sum(path.stat().st_size for path in temp_dir.rglob("*") if path.is_file())


def test_a_200_mb_upload_by_staff_is_refused_before_its_body_is_read(web):
    port, temp_dir = web
    cookies = signed_in_cookies(port, StaffFactory())

    answer, sent = post_partially(port, cookies)

    # then the 413 arrives after 1 MB of the declared 200 MB, and nothing was spooled to disk
    assert status_and_location(answer)[0] == 413 and sent < DECLARED_BYTES
    assert b"accepts at most 10,065,536" in answer
    assert temp_bytes(temp_dir) < SENT_BYTES
    assert not ContactImport.objects.exists()


def test_an_anonymous_upload_is_sent_to_sign_in_before_its_body_is_read(web):
    port, temp_dir = web
    cookies = signed_in_cookies(port)  # a CSRF cookie and token, as anyone gets from the sign-in page

    answer, sent = post_partially(port, cookies)

    status, location = status_and_location(answer)
    assert status == 302 and location.startswith("/login/?next=/imports/upload/") and sent < DECLARED_BYTES
    assert temp_bytes(temp_dir) < SENT_BYTES


def test_a_chunked_upload_without_a_length_is_refused_at_once(web):
    port, temp_dir = web
    cookies = signed_in_cookies(port, StaffFactory())

    answer, _ = post_partially(port, cookies, chunked=True)

    assert status_and_location(answer)[0] == 411
    assert temp_bytes(temp_dir) < SENT_BYTES
