"""Request middleware: metrics for every response, and body limits enforced before a body is read."""

import time

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse

from core.operations.metrics import request_observe

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


# Room for the multipart framing around an uploaded file: boundaries, part headers, the CSRF token field.
MULTIPART_ALLOWANCE_BYTES = 64 * 1024


def accepts_upload(*, max_file_bytes_setting: str):
    """Marks a view that takes a file of up to the named setting's size; RequestBodyLimitMiddleware reads it."""

    def mark(view):
        view.upload_max_file_bytes_setting = max_file_bytes_setting
        return view

    return mark


class RequestBodyLimitMiddleware:
    """Refuses a body over its view's limit, and an anonymous upload, before anything reads the body.

    Listed before CsrfViewMiddleware, whose token check parses a multipart body and spools every file part to
    a temporary file, whatever its size: Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not count file parts, and
    gunicorn has no body limit at all."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        upload_setting = getattr(view_func, "upload_max_file_bytes_setting", None)
        if upload_setting is not None and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        max_bytes = (
            getattr(settings, upload_setting) + MULTIPART_ALLOWANCE_BYTES
            if upload_setting is not None
            else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        declared = request.META.get("CONTENT_LENGTH") or ""
        if not declared and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads no body without a length; say so rather than answer as if the form were empty.
            return HttpResponse(
                "A request body must declare its Content-Length.\n", status=411, content_type="text/plain"
            )
        if declared.isdigit() and int(declared) > max_bytes:
            return HttpResponse(
                f"Request body of {int(declared):,} bytes refused: this address accepts at most {max_bytes:,}.\n",
                status=413,
                content_type="text/plain",
            )
        return None
