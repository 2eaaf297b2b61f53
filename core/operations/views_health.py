"""HTTP endpoints for probes and operators: /healthz for load balancers, /healthz/system for people."""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.operations.health import system_report, web_health
from core.operations.metrics import bearer_token_refusal


@never_cache
@require_GET
def healthz(request):
    """Public, so it says nothing but ok or failing: 503 only when this web process cannot serve pages."""
    healthy = web_health()
    return JsonResponse({"status": "ok" if healthy else "failing"}, status=200 if healthy else 503)


@never_cache
@require_GET
def healthz_system(request):
    """The whole system (workers, the queues they consume, beat, queue depths) for staff or the metrics
    token; 503 when any part fails, so a monitor can alert on it."""
    if "Authorization" in request.headers:
        refusal = bearer_token_refusal(request)
        if refusal is not None:
            return refusal
    elif not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    elif not request.user.is_staff:
        raise Http404
    healthy, report = system_report()
    return JsonResponse(report, status=200 if healthy else 503)
