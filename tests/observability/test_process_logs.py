"""What `make run` prints: each line once, and nothing from the mail sink but the mail it receives."""

import smtplib
import sys
import urllib.error
import urllib.request

from tests.support.embedded import free_port
from tests.support.processes import ManagedProcess, process_env, wait_until


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_runserver_prints_each_line_of_a_request_once(django_db_setup, process_logs):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # As the Procfile runs it under `make run`: DEBUG on, with the autoreloader.
    web = ManagedProcess(
        "runserver-lines",
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
        process_env(DJANGO_DEBUG="1"),
        process_logs,
    )
    try:
        wait_until(lambda: get(base + "/login/") == 200, 60, "runserver never answered", web)

        assert get(base + "/no-such-page/") == 404
        # A second request whose line is printed after every line of the first one.
        assert get(base + "/login/?after") == 200
        wait_until(lambda: '"GET /login/?after HTTP/1.1" 200' in web.output(), 30, "no line for the request", web)
    finally:
        web.stop()

    output = web.log_path.read_text()
    assert output.count('"GET /no-such-page/ HTTP/1.1" 404') == 1
    assert output.count("Not Found: /no-such-page/") == 1
    assert output.count("Watching for file changes") == 1


def test_the_mail_sink_prints_its_start_and_one_line_a_message(process_logs, tmp_path):
    port = free_port()
    sink = ManagedProcess(
        "mailsink-lines",
        [sys.executable, "-m", "core.devtools.mailsink", "--port", str(port), "--dir", str(tmp_path)],
        process_env(),
        process_logs,
    )
    try:
        sink.wait_for_output("SMTP sink on")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("shop@example.com", ["reader@example.com"], b"Subject: Hello\r\n\r\nA message.\r\n")
        sink.wait_for_output("mail to reader@example.com")
    finally:
        sink.stop()

    lines = sink.log_path.read_text().splitlines()
    printed = [line.split(" mailsink ", 1)[1] for line in lines if " mailsink " in line]
    assert printed == [
        f"SMTP sink on 127.0.0.1:{port}, messages saved in {tmp_path}",
        "mail to reader@example.com: Hello",
    ]
