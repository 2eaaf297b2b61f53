"""The proxy in front of gunicorn (compose's `proxy`, deploy/nginx) holds the upload limit: a body over it is
refused 413 before any of it is read, and gunicorn never sees the request; a file of the limit itself passes."""

import re
import socket
import urllib.parse
import uuid

import pytest

from tests.compose.conftest import wait_for

UPLOAD = "imports/upload/"
# Django's room for the multipart framing around the file (core/middleware.py MULTIPART_ALLOWANCE_BYTES), which
# deploy/nginx/15-upload-limit.envsh adds to the file limit.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def max_file_bytes(healthy_stack) -> int:
    return int(healthy_stack.env["CONTACT_IMPORT_MAX_BYTES"].replace("_", ""))


def declare_body(stack, path: str, length: int, headers: dict[str, str]) -> tuple[int, str]:
    """Sends a POST's headers declaring `length` bytes of body, none of the body itself, and reads the answer."""
    address = urllib.parse.urlsplit(stack.url("web"))
    lines = [
        f"POST /{path} HTTP/1.1",
        f"Host: {address.netloc}",
        "Content-Type: multipart/form-data; boundary=x",
        f"Content-Length: {length}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "staff"])
def test_a_body_over_the_limit_is_refused_by_the_proxy_unread(healthy_stack, staff, max_file_bytes, signed_in):
    probe = uuid.uuid4().hex
    path = f"{UPLOAD}?probe={probe}"
    headers = {"Cookie": staff_cookies(staff)} if signed_in else {}

    status, body = declare_body(healthy_stack, path, max_file_bytes + MULTIPART_ALLOWANCE_BYTES + 1, headers)

    # refused while the body was still unsent: by nginx, whose page this is, not by Django's own limit
    assert status == 413
    assert "413 Request Entity Too Large" in body
    # and gunicorn, which logs every request it answers, never saw it
    assert probe not in healthy_stack.compose("logs", "--no-color", "web")


def test_a_file_of_exactly_the_limit_passes_the_proxy_and_is_imported(healthy_stack, staff, max_file_bytes):
    domain = f"limit-{uuid.uuid4().hex[:8]}.example"
    rows = max_file_bytes // NOTES_BYTES + 1
    content = csv_of_exactly(max_file_bytes, [f"contact-{n}@{domain},Contact {n}," for n in range(rows)])

    status, landing, page = staff.post_file(UPLOAD, "imports/", "file", "at-the-limit.csv", content)

    assert status == 200, page
    import_page = re.fullmatch(r"/(imports/\d+/)", landing).group(1)
    wait_for(
        lambda: 'data-status="done"' in staff.get(import_page), 120, "the import of a file at the limit never finished"
    )
    assert f"{rows} of {rows} rows · {rows} created" in staff.get(import_page)


# Each row's padding, in a column the import ignores: below the csv module's 128 KiB field limit.
NOTES_BYTES = 100_000


def csv_of_exactly(size: int, rows: list[str]) -> bytes:
    """A contact CSV of `size` bytes: `rows` (ending in the notes column's comma), each padded in that column."""
    header = "email,name,notes\n"
    fill, extra = divmod(size - len(header) - sum(len(row) + 1 for row in rows), len(rows))
    content = header + "".join(f"{row}{'x' * (fill + (n < extra))}\n" for n, row in enumerate(rows))
    assert len(content) == size
    return content.encode()


def staff_cookies(browser) -> str:
    jar = next(h.cookiejar for h in browser.opener.handlers if hasattr(h, "cookiejar"))
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
