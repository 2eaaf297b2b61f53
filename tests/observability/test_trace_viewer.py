"""The trace viewer of compose's monitoring profile, over real HTTP on loopback: the OpenTelemetry SDK's own
OTLP/HTTP exporter posts to it, and the pages are read as a browser (or a script) reads them."""

import gzip
import http.client
import json
import re
import threading
import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from core.operations import probes
from core.operations.trace_viewer import SpanFile, TraceViewer


def tracer_to(viewer: TraceViewer, role: str = "web"):
    """A tracer of its own (the process's global one stays off) exporting each span as it ends, as a traced
    process of the stack would."""
    provider = TracerProvider(resource=Resource.create({"service.name": "myproject", "service.instance.role": role}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{viewer.endpoint}/v1/traces")))
    return provider.get_tracer("tests")


def get(viewer: TraceViewer, path: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(viewer.endpoint + path, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def post(viewer: TraceViewer, body: bytes, **headers: str) -> int:
    connection = http.client.HTTPConnection(*viewer.server_address[:2], timeout=10)
    try:
        connection.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf", **headers}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def indents(page: str) -> list[tuple[str, str]]:
    """Each span row of a trace page, in order: its indent (em) and its name."""
    return re.findall(r"padding-left:([\d.]+)em'>.*?<span class='span'>(.*?)</span>", page)


@pytest.fixture
def small_viewer(tmp_path):
    """A viewer with small limits: 2 kB bodies, a 20 kB spans file."""
    viewer = TraceViewer(("127.0.0.1", 0), SpanFile(tmp_path / "traces.jsonl", max_bytes=20_000), max_body_bytes=2_000)
    threading.Thread(target=viewer.serve_forever, daemon=True).start()
    yield viewer
    viewer.shutdown()
    viewer.server_close()


def test_an_exported_trace_is_listed_and_shown_as_a_tree_of_its_spans(trace_viewer):
    # given a request span with a query under it, exported by web, and a task run in the same trace by a worker
    web, worker = tracer_to(trace_viewer, "web"), tracer_to(trace_viewer, "worker")
    with web.start_as_current_span("POST orders/<int:pk>/send-invoice/", attributes={"http.status_code": 200}) as root:
        with web.start_as_current_span("SELECT app", attributes={"db.statement": "SELECT 1"}):
            pass
        with worker.start_as_current_span("run/orders.send_invoice_email"):
            pass
    trace_id = format(root.get_span_context().trace_id, "032x")

    # when the index, the trace's page and its JSON are read
    _, _, index = get(trace_viewer, "/")
    status, headers, page = get(trace_viewer, f"/traces/{trace_id}")
    _, _, as_json = get(trace_viewer, f"/traces/{trace_id}.json")

    # then the index lists the trace by its root span with its three spans
    assert f"href='/traces/{trace_id}'" in index
    assert "POST orders/&lt;int:pk&gt;/send-invoice/" in index and "<td>3</td>" in index
    # the page shows each span under its parent, with the process that ran it and its attributes
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert indents(page) == [
        ("0.0", "POST orders/&lt;int:pk&gt;/send-invoice/"),
        ("1.5", "SELECT app"),
        ("1.5", "run/orders.send_invoice_email"),
    ]
    assert "myproject/worker</span> <span class='span'>run/orders.send_invoice_email" in page
    assert "db.statement=<code>SELECT 1</code>" in page
    # and the JSON gives the same spans to a script, linked by their ids
    spans = {span["name"]: span for span in json.loads(as_json)["spans"]}
    assert spans["SELECT app"]["parent_id"] == spans["POST orders/<int:pk>/send-invoice/"]["span_id"]
    assert spans["run/orders.send_invoice_email"]["role"] == "worker"


def test_span_names_and_attributes_are_shown_as_text_never_as_markup(trace_viewer):
    # given a span whose name and attribute come from outside
    with tracer_to(trace_viewer).start_as_current_span(
        "<script>alert(1)</script>", attributes={"http.target": "/?q=<img src=x onerror=alert(2)>"}
    ) as span:
        pass
    trace_id = format(span.get_span_context().trace_id, "032x")

    # when its pages are read
    _, index_headers, index = get(trace_viewer, "/")
    _, headers, page = get(trace_viewer, f"/traces/{trace_id}")

    # then they carry the text escaped, and no script could run even if some markup slipped through
    for html_page in (index, page):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_page
        assert "<script" not in html_page and "<img" not in html_page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert index_headers["Content-Security-Policy"] == headers["Content-Security-Policy"]


def test_an_unknown_trace_is_a_404(trace_viewer):
    assert get(trace_viewer, "/traces/" + "ab" * 16)[0] == 404
    assert get(trace_viewer, "/traces/" + "ab" * 16 + ".json")[0] == 404
    assert get(trace_viewer, "/traces/not-a-trace-id")[0] == 404


def test_a_body_over_the_limit_is_refused_with_413_and_bad_protobuf_with_400(small_viewer):
    # a body declared larger than the limit, a small gzip body that inflates past it, and bytes that are no
    # ExportTraceServiceRequest
    assert post(small_viewer, b"\0" * 2_001) == 413
    assert post(small_viewer, gzip.compress(b"\0" * 100_000), **{"Content-Encoding": "gzip"}) == 413
    assert post(small_viewer, b"not protobuf") == 400
    assert post(small_viewer, b"\x1f\x8b not gzip", **{"Content-Encoding": "gzip"}) == 400

    # and none of them left a span behind
    assert small_viewer.span_file.spans() == []


def test_the_spans_file_is_capped_keeping_the_newest_spans(small_viewer):
    # given a 20 kB cap, when far more spans than fit arrive (about 400 bytes each)
    tracer = tracer_to(small_viewer)
    trace_ids = []
    for number in range(200):
        with tracer.start_as_current_span(f"span {number}") as span:
            trace_ids.append(format(span.get_span_context().trace_id, "032x"))

    # then the file and its one rotated predecessor hold at most the cap each, the newest trace is there and
    # the oldest is gone
    span_file = small_viewer.span_file
    assert span_file.path.stat().st_size <= 20_000 and span_file.previous.stat().st_size <= 20_000
    assert span_file.trace(trace_ids[-1]) and not span_file.trace(trace_ids[0])
    assert get(small_viewer, f"/traces/{trace_ids[-1]}")[0] == 200


def test_the_liveness_probe_passes_while_the_viewer_answers(trace_viewer, monkeypatch):
    monkeypatch.setenv("TRACE_VIEWER_PORT", str(trace_viewer.server_address[1]))
    assert probes.traces() is None

    trace_viewer.shutdown()
    trace_viewer.server_close()
    assert "does not answer" in probes.traces()
