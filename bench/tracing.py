"""Tracing off against on (`python -m bench.tracing`): the Send invoice click at 100 requests/s through gunicorn
and a project worker's throughput on a trivial task, each with OTEL_EXPORTER_OTLP_ENDPOINT unset and then set
to an OTLP/HTTP receiver on loopback that decodes every export. Prints a Markdown table for BENCHMARKS.md."""

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import run as harness  # sets up the database, Redis and Django as `make bench` does
from bench.load import Request, run_open_loop

RATE = 100
LIGHT_RATE = harness.LIGHT_RATE
ROUNDS = 2  # interleaved off/on rounds: machine noise hits both alike


class SpanCounter:
    """A collector's OTLP/HTTP endpoint that decodes each export and counts its spans."""

    def __init__(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans = 0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                counter.spans += sum(
                    len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", harness.free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"


def tracing(endpoint: str | None) -> None:
    """Processes started from now on inherit this environment (harness.process_env copies it)."""
    if endpoint:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    else:
        os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)


def clicks(customer, headers, duration: float, name: str) -> dict[int, list[float]]:
    """Latencies at RATE, and at LIGHT_RATE where no queueing inflates them (the tracing's own cost)."""
    orders = harness.fresh_orders(customer, int(RATE * (duration + harness.WARM_UP_S) + LIGHT_RATE * duration) + 30)
    web, port, _ = harness.start_web(name, "myproject.wsgi:application")
    try:

        def send_invoice(offset: int):
            return lambda index: Request(
                "POST", f"/orders/{orders[offset + index]}/send-invoice/", headers, frozenset({200, 302})
            )

        run_open_loop(port=port, rate=RATE, duration_s=harness.WARM_UP_S, request_for=send_invoice(0))
        offset = int(RATE * harness.WARM_UP_S) + 10
        result = run_open_loop(port=port, rate=RATE, duration_s=duration, request_for=send_invoice(offset))
        light = run_open_loop(
            port=port, rate=LIGHT_RATE, duration_s=duration, request_for=send_invoice(offset + result.sent + 10)
        )
        assert not result.errors and not light.errors, (result.errors + light.errors)[:3]
        return {RATE: result.latencies_ms, LIGHT_RATE: light.latencies_ms}
    finally:
        web.stop()


def throughput(count: int, name: str) -> float:
    harness.reset_broker()
    harness.prefill(harness.bench_tasks.record_done.apply_async, count)
    worker = harness.start_project_worker(name)
    try:
        return harness.drain(worker, count)
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=20, help="seconds of clicks per round and setting")
    parser.add_argument("--tasks", type=int, default=3000, help="tasks drained per round and setting")
    options = parser.parse_args()
    counter = SpanCounter()
    customer = harness.bench_customer()
    headers = harness.signed_in_headers(customer.user)
    latencies: dict[tuple[str, int], list[float]] = {
        (setting, rate): [] for setting in ("off", "on") for rate in (RATE, LIGHT_RATE)
    }
    rates: dict[str, float] = {"off": 0.0, "on": 0.0}
    try:
        for round_number in range(ROUNDS):
            for setting, endpoint in (("off", None), ("on", counter.endpoint)):
                tracing(endpoint)
                harness.reset_broker()
                for rate, values in clicks(
                    customer, headers, options.duration, f"web-{setting}-{round_number}"
                ).items():
                    latencies[setting, rate] += values
                rates[setting] = max(rates[setting], throughput(options.tasks, f"worker-{setting}-{round_number}"))
    finally:
        tracing(None)
    print("| what | tracing off | tracing on | on ÷ off |")
    print("|---|---|---|---|")
    for rate in (RATE, LIGHT_RATE):
        off, on = harness.summary(latencies["off", rate]), harness.summary(latencies["on", rate])
        for key in ("p50", "p99"):
            print(
                f"| Send invoice click at {rate} req/s ({off['n']} / {on['n']} requests), {key} | "
                f"{off[key]:.1f} ms | {on[key]:.1f} ms | {on[key] / off[key]:.2f} |"
            )
    print(
        f"| trivial task, project worker (2 processes), best of {ROUNDS} | {rates['off']:.0f} tasks/s | "
        f"{rates['on']:.0f} tasks/s | {rates['on'] / rates['off']:.2f} |"
    )
    print(f"\nSpans the receiver decoded: {counter.spans}")


if __name__ == "__main__":
    main()
