"""The unsubscribe page every notification email links to; the signed token is the only credential."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.exceptions import ProjectError
from notifications import selectors, services


# Mail clients' one-click unsubscribe (RFC 8058) POSTs without a CSRF token; the signed token stands in for it.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks for confirmation, so a link scanner fetching the URL unsubscribes no one; POST unsubscribes."""
    try:
        if request.method == "POST":
            subscriber = services.subscriber_unsubscribe(token=token)
        else:
            subscriber = selectors.subscriber_by_unsubscribe_token(token=token)
    except ProjectError as error:
        return render(request, "notifications/unsubscribe_invalid.html", {"error": str(error)}, status=400)
    return render(
        request,
        "notifications/unsubscribe.html",
        {"subscriber": subscriber, "done": subscriber.unsubscribed_at is not None},
    )
