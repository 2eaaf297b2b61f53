"""An open-loop HTTP load generator in pure Python: requests leave on a fixed schedule whatever the server
does, and each latency is counted from its scheduled time, so a slow server cannot hide its queueing
(no coordinated omission)."""

import http.client
import queue
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Enough connections that the client never waits for a free one at the rates we drive (100 req/s, ~10 ms).
CLIENT_THREADS = 16


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict
    expected_status: frozenset


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    duration_s: float = 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.duration_s if self.duration_s else 0.0


def run_open_loop(*, port: int, rate: float, duration_s: float, request_for: Callable[[int], Request]) -> LoadResult:
    """Send request_for(0), request_for(1), … at `rate` per second for `duration_s` seconds."""
    result = LoadResult()
    lock = threading.Lock()
    jobs: queue.Queue = queue.Queue()

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (job := jobs.get()) is not None:
            scheduled_at, request = job
            try:
                connection.request(request.method, request.path, headers=request.headers)
                response = connection.getresponse()
                response.read()
                latency = (time.perf_counter() - scheduled_at) * 1000
                error = (
                    None
                    if response.status in request.expected_status
                    else (f"{request.method} {request.path}: HTTP {response.status}")
                )
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                latency, error = None, f"{request.method} {request.path}: {exc!r}"
            with lock:
                if error:
                    result.errors.append(error)
                else:
                    result.latencies_ms.append(latency)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    interval = 1 / rate
    total = int(rate * duration_s)
    started = time.perf_counter()
    for index in range(total):
        scheduled_at = started + index * interval
        delay = scheduled_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        jobs.put((scheduled_at, request_for(index)))
        result.sent += 1
    result.duration_s = time.perf_counter() - started + interval  # the last request's slot included
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join(timeout=60)
    return result
