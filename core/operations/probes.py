"""Container liveness probes: `python -m core.operations.probes web|worker|beat|flower|relay|traces` exits 0 while it
lives."""

import json
import os
import sys
import time
import urllib.error
import urllib.request

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

PROBE_TIMEOUT_SECONDS = 5
# An outbox row unpublished for this long means the relay is stuck (it retries every second).
RELAY_STALE_SECONDS = 120


def web() -> str | None:
    """Alive while /healthz answers with its JSON status, even a 503 one: a database outage takes web out of
    the load balancer's rotation, but restarting the container would not bring the database back."""
    from django.conf import settings

    request = urllib.request.Request(
        f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/healthz", headers={"Host": _allowed_host(settings)}
    )
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # 503: alive, reporting its database down
        body = error.read()
    except OSError as error:
        return f"web does not answer: {error}"
    try:
        report = json.loads(body)
    except ValueError:
        return f"web answered without its JSON report: {body[:200]!r}"
    return None if "status" in report else f"web answered an unexpected report: {report}"


def worker() -> str | None:
    """Alive while its heartbeat file is fresh: no broker round trip per probe, unlike `celery inspect ping`."""
    from django.conf import settings

    return _fresh("worker", settings.HEARTBEAT_INTERVAL_SECONDS * 3)


def beat() -> str | None:
    from django.conf import settings

    return _fresh("beat", settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS)


def flower() -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('FLOWER_PORT', '5555')}/healthcheck"  # Flower serves it without auth
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            return None if response.read() == b"OK" else "flower answered, but not OK"
    except OSError as error:
        return f"flower does not answer: {error}"


def traces() -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('TRACE_VIEWER_PORT', '16686')}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            return None if response.read() == b"ok\n" else "the trace viewer answered, but not ok"
    except OSError as error:
        return f"the trace viewer does not answer: {error}"


def relay() -> str | None:
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from core.models import OutboxMessage

    stale = OutboxMessage.objects.filter(
        published_at__isnull=True, created_at__lt=timezone.now() - timedelta(seconds=RELAY_STALE_SECONDS)
    ).count()
    return f"{stale} outbox message(s) unpublished for over {RELAY_STALE_SECONDS}s" if stale else None


def _fresh(process: str, max_age: float) -> str | None:
    from core.operations.health import heartbeat_file

    path = heartbeat_file(process)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"{process} has written no heartbeat at {path}"
    return None if age <= max_age else f"{process} heartbeat is {age:.0f}s old (limit {max_age}s)"


def _allowed_host(settings) -> str:
    """A Host header the web process accepts, so the probe is not refused by ALLOWED_HOSTS."""
    for host in settings.ALLOWED_HOSTS:
        if host != "*":
            return host.lstrip(".")
    return "localhost"


PROBES = {"web": web, "worker": worker, "beat": beat, "flower": flower, "relay": relay, "traces": traces}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in PROBES:
        sys.exit(f"usage: python -m core.operations.probes {'|'.join(PROBES)}")
    failure = PROBES[sys.argv[1]]()
    if failure:
        sys.exit(failure)


if __name__ == "__main__":
    main()
