"""A local SMTP server that keeps every message it receives: the development and test stand-in for
Mailpit. Run it with `python -m core.devtools.mailsink --port 1025 --dir .run/mail`."""

import argparse
import email
import email.policy
import logging
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

logger = logging.getLogger(__name__)


class ReceivedMessage(email.message.EmailMessage):
    """A received message, parsed, with the bytes as they came over SMTP: what a mail client reads."""

    raw: bytes = b""


class MailSink:
    """Keeps received messages in memory and, when given a folder, as .eml files there."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder
        self.messages: list[ReceivedMessage] = []
        self.lock = threading.Lock()
        if folder:
            folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, _class=ReceivedMessage, policy=email.policy.default)
        message.raw = envelope.content
        with self.lock:
            self.messages.append(message)
            count = len(self.messages)
        if self.folder:
            (self.folder / f"{time.time_ns()}-{count}.eml").write_bytes(envelope.content)
        logger.info("mail to %s: %s", ", ".join(envelope.rcpt_tos), message["Subject"])
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[ReceivedMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


def start_mailsink(*, port: int, folder: Path | None = None) -> tuple[Controller, MailSink]:
    sink = MailSink(folder)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".run/mail"))
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mailsink %(message)s")
    # aiosmtpd logs every SMTP command, and its own start-up connection, at INFO; one line a message is ours.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller, _ = start_mailsink(port=options.port, folder=options.dir)
    logger.info("SMTP sink on 127.0.0.1:%d, messages saved in %s", options.port, options.dir)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
