"""Mailpit's SMTP side and the subset of its API v1 that tests read (paged as Mailpit pages it), in the same
JSON shapes: enough to stand in for axllent/mailpit where no registry is reachable. `mailpit readyz` checks
the HTTP side."""

import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import sys
import threading
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

HTTP_PORT = 8025
SMTP_PORT = 1025
messages: dict[str, dict] = {}
lock = threading.Lock()
ids = itertools.count(1)


def addresses(header) -> list[dict]:
    return [{"Name": a.display_name, "Address": a.addr_spec} for a in getattr(header, "addresses", ())]


def numbered_parts(part, prefix=""):
    """Leaf MIME parts with Mailpit's part IDs: 1, 2, 2.1 … by position under each multipart."""
    for number, child in enumerate(part.iter_parts(), start=1):
        part_id = f"{prefix}{number}"
        if child.is_multipart():
            yield from numbered_parts(child, part_id + ".")
        else:
            yield part_id, child


def store(raw: bytes) -> None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = list(numbered_parts(message)) if message.is_multipart() else [("1", message)]
    attachments = [
        {
            "PartID": part_id,
            "FileName": part.get_filename(),
            "ContentType": part.get_content_type(),
            "ContentID": "",
            "Size": len(part.get_payload(decode=True) or b""),
        }
        for part_id, part in parts
        if part.get_filename()
    ]
    bodies = {p.get_content_type(): p.get_content() for _, p in reversed(parts) if not p.get_filename()}
    text, html = bodies.get("text/plain", ""), bodies.get("text/html", "")
    record = {
        "ID": f"{next(ids):020d}",
        "MessageID": (message["Message-ID"] or "").strip("<>"),
        "From": (addresses(message["From"]) or [{}])[0],
        "To": addresses(message["To"]),
        "Cc": addresses(message["Cc"]),
        "Bcc": [],
        "ReplyTo": addresses(message["Reply-To"]),
        "Subject": str(message["Subject"] or ""),
        "Created": datetime.now(UTC).isoformat(),
        "Size": len(raw),
        "Attachments": len(attachments),
        "Snippet": text[:250],
        "Tags": [],
        "Read": False,
    }
    with lock:
        messages[record["ID"]] = {
            "summary": record,
            "text": text,
            "html": html,
            "attachments": attachments,
            "parts": dict(parts),
        }


class SMTPHandler:
    # Not in Mailpit: a mail server that takes this long to accept each message, for the scale-out test.
    accept_delay_seconds = int(os.environ.get("SMTP_ACCEPT_DELAY_MS", "0")) / 1000

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.accept_delay_seconds)
        store(envelope.original_content or envelope.content)
        return "250 OK"


class API(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        segments = path.split("/")[1:]
        with lock:
            if path in ("/readyz", "/livez"):
                return self.reply(200, b"ok", "text/plain")
            if path == "/api/v1/messages":
                # Newest first, a page of `limit` (Mailpit's default: 50) from `start`, as Mailpit.
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                start = int(query.get("start", ["0"])[0])
                limit = int(query.get("limit", ["50"])[0])
                everything = [m["summary"] for m in reversed(messages.values())]
                listed = everything[start : start + limit]
                return self.json(
                    {
                        "total": len(everything),
                        "unread": len(everything),
                        "count": len(listed),
                        "messages_count": len(everything),
                        "start": start,
                        "tags": [],
                        "messages": listed,
                    }
                )
            if segments[:3] == ["api", "v1", "message"] and len(segments) >= 4 and segments[3] in messages:
                stored = messages[segments[3]]
                if len(segments) == 4:
                    return self.json(
                        {
                            **stored["summary"],
                            "Date": stored["summary"]["Created"],
                            "Text": stored["text"],
                            "HTML": stored["html"],
                            "Inline": [],
                            "Attachments": stored["attachments"],
                        }
                    )
                if len(segments) == 6 and segments[4] == "part" and segments[5] in stored["parts"]:
                    part = stored["parts"][segments[5]]
                    return self.reply(200, part.get_payload(decode=True) or b"", part.get_content_type())
        self.reply(404, b"not found", "text/plain")

    def do_DELETE(self):
        if self.path.rstrip("/") != "/api/v1/messages":
            return self.reply(404, b"not found", "text/plain")
        with lock:
            messages.clear()
        self.reply(200, b"ok", "text/plain")

    def json(self, body):
        self.reply(200, json.dumps(body).encode(), "application/json")

    def reply(self, status, body: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main() -> int:
    if sys.argv[1:] == ["readyz"]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=3):
                return 0
        except OSError:
            return 1
    controller = Controller(SMTPHandler(), hostname="0.0.0.0", port=SMTP_PORT)
    controller.start()
    # As PID 1 Python gets no default SIGTERM handling: exit at once on `docker compose stop`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"SMTP on :{SMTP_PORT}, API on :{HTTP_PORT}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", HTTP_PORT), API).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
