"""A trace sink and viewer for compose's monitoring profile, built from the project image alone (no registry
reachable): it takes OTLP/HTTP protobuf at POST /v1/traces, keeps each span as one JSON line in a capped file,
and serves the recent traces (GET /), one trace as a tree of spans (GET /traces/<id>) and as JSON
(GET /traces/<id>.json). A local tool: no sign-in, so publish it on loopback only, as compose does.

Usage: python -m core.operations.trace_viewer; TRACE_VIEWER_ADDRESS (127.0.0.1), TRACE_VIEWER_PORT (16686),
TRACE_VIEWER_FILE (traces.jsonl), TRACE_VIEWER_MAX_BYTES (the file's cap, 20 MB) configure it."""

import html
import json
import os
import re
import signal
import sys
import threading
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

DEFAULT_PORT = 16686
# About 500 bytes a span (a query's, with its SQL): 40,000 spans per file, rotated once, so at most twice this on
# disk. Measured on 2 cores with 30 MB kept: the index (it parses every line) 0.78 s, one trace's page 0.08 s.
DEFAULT_MAX_FILE_BYTES = 20_000_000
# The Python SDK exports batches of at most 512 spans, well under 1 MB; a larger body is not an exporter's.
MAX_BODY_BYTES = 4_000_000
RECENT_TRACES = 100
ATTRIBUTE_VALUE_CHARS = 300
SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_CODES = {0: "unset", 1: "ok", 2: "error"}
# Spans come from any process that can reach the port: their names and attributes are text, never markup.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


class BodyTooLarge(Exception):
    pass


class NoLength(Exception):
    pass


def any_value(value):
    """An OTLP AnyValue as plain JSON."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def spans_of(request: ExportTraceServiceRequest) -> list[dict]:
    """Each span of an export as one flat record, with its process's service name and role."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = {item.key: any_value(item.value) for item in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": SPAN_KINDS.get(span.kind, str(span.kind)),
                        "service": str(resource.get("service.name", "")),
                        "role": str(resource.get("service.instance.role", "")),
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "status": STATUS_CODES.get(span.status.code, str(span.status.code)),
                        "status_message": span.status.message,
                        "attributes": {item.key: any_value(item.value) for item in span.attributes},
                    }
                )
    return spans


class SpanFile:
    """Spans as JSON lines, appended; past max_bytes the file becomes <name>.1 (replacing the previous one), so
    the newest spans are kept and the disk holds at most twice max_bytes."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self.path = Path(path)
        self.previous = self.path.with_name(self.path.name + ".1")
        self.max_bytes = max_bytes
        self.lock = threading.Lock()

    def append(self, spans: list[dict]) -> None:
        lines = "".join(json.dumps(span, separators=(",", ":")) + "\n" for span in spans).encode()
        with self.lock:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size and size + len(lines) > self.max_bytes:
                os.replace(self.path, self.previous)
            with self.path.open("ab") as file:
                file.write(lines)

    def spans(self, containing: str = "") -> list[dict]:
        """Every kept span, oldest first; only lines containing the text when given (a trace id: no JSON to parse
        for the other traces)."""
        with self.lock:  # not in the middle of a rotation
            raw = b"".join(path.read_bytes() for path in (self.previous, self.path) if path.exists())
        needle = containing.encode()
        return [json.loads(line) for line in raw.splitlines() if line and needle in line]

    def trace(self, trace_id: str) -> list[dict]:
        return [span for span in self.spans(containing=trace_id) if span["trace_id"] == trace_id]

    def recent_traces(self, limit: int = RECENT_TRACES) -> list[dict]:
        """The latest-started traces: id, root span, start, duration, span count."""
        traces: dict[str, list[dict]] = {}
        for span in self.spans():
            traces.setdefault(span["trace_id"], []).append(span)
        summaries = [summary(trace_id, spans) for trace_id, spans in traces.items()]
        return sorted(summaries, key=lambda item: item["start_ns"], reverse=True)[:limit]


def summary(trace_id: str, spans: list[dict]) -> dict:
    # The root may not have arrived yet (its process exports later): the earliest span stands in.
    root = min(spans, key=lambda span: (span["parent_id"] != "", span["start_ns"]))
    start, end = min(span["start_ns"] for span in spans), max(span["end_ns"] for span in spans)
    return {
        "trace_id": trace_id,
        "root": root["name"],
        "root_role": root["role"],
        "start_ns": start,
        "duration_ms": (end - start) / 1e6,
        "spans": len(spans),
    }


def span_tree(spans: list[dict]) -> list[tuple[int, dict]]:
    """The spans depth-first as (depth, span), children by start time; a span whose parent is not (yet) here
    is a root."""
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[dict]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else ""
        children.setdefault(parent, []).append(span)
    ordered, seen = [], set()

    def visit(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda item: item["start_ns"]):
            if span["span_id"] not in seen:
                seen.add(span["span_id"])
                ordered.append((depth, span))
                visit(span["span_id"], depth + 1)

    visit("", 0)
    return ordered


def clock(unix_ns: int) -> str:
    moment = datetime.fromtimestamp(unix_ns / 1e9, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}code,.span{font-family:monospace}"
        ".muted{color:#666}.error{color:#b00}.row{margin:.3em 0}"
        ".bar{display:inline-block;height:.6em;background:#69c;vertical-align:middle}"
        f"</style></head><body>{body}</body></html>"
    )


def index_page(traces: list[dict], file: Path) -> str:
    rows = "".join(
        "<tr>"
        f"<td><a href='/traces/{item['trace_id']}'><code>{item['trace_id']}</code></a></td>"
        f"<td>{html.escape(item['root'])} <span class='muted'>{html.escape(item['root_role'])}</span></td>"
        f"<td>{clock(item['start_ns'])}</td><td>{item['duration_ms']:.1f} ms</td><td>{item['spans']}</td>"
        "</tr>"
        for item in traces
    )
    return page(
        "Traces",
        f"<h1>Recent traces</h1><p class='muted'>The latest {RECENT_TRACES} kept in {html.escape(str(file))}; "
        "open one by its id: /traces/&lt;trace id&gt;.</p>"
        "<table><tr><th>trace id</th><th>root span</th><th>start</th><th>duration</th><th>spans</th></tr>"
        f"{rows}</table>",
    )


def trace_page(trace_id: str, spans: list[dict]) -> str:
    start = min(span["start_ns"] for span in spans)
    total_ns = max(max(span["end_ns"] for span in spans) - start, 1)
    rows = "".join(span_row(depth, span, start, total_ns) for depth, span in span_tree(spans))
    return page(
        f"Trace {trace_id}",
        f"<p><a href='/'>All traces</a> · <a href='/traces/{trace_id}.json'>JSON</a></p>"
        f"<h1>Trace <code>{trace_id}</code></h1>"
        f"<p>{len(spans)} spans, {total_ns / 1e6:.1f} ms from {clock(start)}</p>{rows}",
    )


def span_row(depth: int, span: dict, trace_start: int, total_ns: int) -> str:
    """One span, indented under its parent, with a bar placing it on the trace's time line."""
    duration_ns = span["end_ns"] - span["start_ns"]
    offset = (span["start_ns"] - trace_start) / total_ns * 30
    width = max(duration_ns / total_ns * 30, 0.1)
    attributes = " ".join(
        f"{html.escape(key)}=<code>{html.escape(attribute_text(value))}</code>"
        for key, value in sorted(span["attributes"].items())
    )
    status = (
        f" <strong class='error'>error {html.escape(span['status_message'])}</strong>"
        if span["status"] == "error"
        else ""
    )
    return (
        f"<div class='row' style='padding-left:{depth * 1.5:.1f}em'>"
        f"<span class='bar' style='margin-left:{offset:.2f}em;width:{width:.2f}em'></span> "
        f"<span class='muted'>+{(span['start_ns'] - trace_start) / 1e6:.1f} ms</span> "
        f"<strong>{duration_ns / 1e6:.1f} ms</strong> "
        f"<span class='muted'>{html.escape(span['service'])}/{html.escape(span['role'])}</span> "
        f"<span class='span'>{html.escape(span['name'])}</span>{status}"
        f"<br><small class='muted'>{attributes}</small></div>"
    )


def attribute_text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= ATTRIBUTE_VALUE_CHARS else text[:ATTRIBUTE_VALUE_CHARS] + "…"


def read_limited(handler: BaseHTTPRequestHandler, max_bytes: int) -> bytes:
    """The request body, gunzipped, refused past max_bytes before it is read (or, compressed, inflated)."""
    length = handler.headers.get("Content-Length", "")
    if not length.isdigit():
        raise NoLength  # chunked: the exporters send a length
    length = int(length)
    if length > max_bytes:
        raise BodyTooLarge
    body = handler.rfile.read(length)
    if handler.headers.get("Content-Encoding") == "gzip":
        inflater = zlib.decompressobj(wbits=31)  # gzip framing
        try:
            body = inflater.decompress(body, max_bytes + 1)
        except zlib.error as error:
            raise DecodeError(f"bad gzip: {error}") from None
        if len(body) > max_bytes:
            raise BodyTooLarge
    return body


class TraceViewer(ThreadingHTTPServer):
    """The sink and the pages, on one port."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], span_file: SpanFile, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.span_file = span_file
        self.max_body_bytes = max_body_bytes
        super().__init__(address, Handler)

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT should say to export here."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: TraceViewer

    def do_POST(self):
        if self.path != "/v1/traces":
            return self.answer(HTTPStatus.NOT_FOUND, "text/plain", b"only /v1/traces\n")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
            return self.answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "text/plain", b"OTLP protobuf only\n")
        try:
            request = ExportTraceServiceRequest.FromString(read_limited(self, self.server.max_body_bytes))
        except BodyTooLarge:
            self.close_connection = True  # the unread body must not be taken for the next request
            return self.answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "text/plain", b"body too large\n")
        except NoLength:
            self.close_connection = True
            return self.answer(HTTPStatus.LENGTH_REQUIRED, "text/plain", b"Content-Length required\n")
        except DecodeError:
            return self.answer(HTTPStatus.BAD_REQUEST, "text/plain", b"not an ExportTraceServiceRequest\n")
        spans = spans_of(request)
        if spans:
            self.server.span_file.append(spans)
        self.answer(HTTPStatus.OK, "application/x-protobuf", ExportTraceServiceResponse().SerializeToString())

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self.answer(HTTPStatus.OK, "text/plain", b"ok\n")
        if path == "/":
            traces = self.server.span_file.recent_traces()
            return self.html(HTTPStatus.OK, index_page(traces, self.server.span_file.path))
        match = re.fullmatch(r"/traces/([0-9a-fA-F]{32})(\.json)?", path)
        if not match:
            return self.html(HTTPStatus.NOT_FOUND, page("Not found", "<p>Not found. <a href='/'>All traces</a></p>"))
        trace_id, as_json = match.group(1).lower(), match.group(2)
        spans = self.server.span_file.trace(trace_id)
        if as_json:
            body = json.dumps({"trace_id": trace_id, "spans": spans}).encode()
            return self.answer(HTTPStatus.OK if spans else HTTPStatus.NOT_FOUND, "application/json", body)
        if not spans:
            return self.html(
                HTTPStatus.NOT_FOUND,
                page(
                    "No such trace",
                    f"<p>No span of trace <code>{trace_id}</code> is kept. <a href='/'>All traces</a></p>",
                ),
            )
        self.html(HTTPStatus.OK, trace_page(trace_id, spans))

    def html(self, status: HTTPStatus, text: str) -> None:
        self.answer(status, "text/html; charset=utf-8", text.encode(), PAGE_HEADERS)

    def answer(self, status: HTTPStatus, content_type: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass  # one line per export batch would drown the container's log


def main() -> None:
    span_file = SpanFile(
        Path(os.environ.get("TRACE_VIEWER_FILE", "traces.jsonl")),
        int(os.environ.get("TRACE_VIEWER_MAX_BYTES", DEFAULT_MAX_FILE_BYTES)),
    )
    address = (
        os.environ.get("TRACE_VIEWER_ADDRESS", "127.0.0.1"),
        int(os.environ.get("TRACE_VIEWER_PORT", DEFAULT_PORT)),
    )
    server = TraceViewer(address, span_file)
    # PID 1 in its container: without a handler SIGTERM would be ignored until Docker's SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"trace viewer on {server.endpoint}, spans in {span_file.path}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
