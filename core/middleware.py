"""Request metrics: every response counted by method, view and status, with its latency."""

import time

from core.metrics import request_observe

KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}  # others share one label


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so the latency covers every other middleware too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route's name, never the raw path: one series per view, not one per order id or scanner probe.
        view = (match.view_name if match else "") or "<unmatched>"
        request_observe(
            method=request.method if request.method in KNOWN_METHODS else "OTHER",
            view=view,
            status=response.status_code,
            seconds=time.monotonic() - started,
        )
        return response
