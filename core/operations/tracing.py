"""OpenTelemetry traces, set up once per process (gunicorn worker, Celery pool process, beat, relay) and only
when OTEL_EXPORTER_OTLP_ENDPOINT is set: Django requests, Celery publishes and runs, Redis commands and
PostgreSQL queries become spans exported over OTLP/HTTP. The outbox carries a click's trace context to the
publish, also when the relay sends it later (core.tasking.outbox)."""

import logging
import os

logger = logging.getLogger(__name__)

_initialised = False


def tracing_enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def tracing_init(role: str) -> bool:
    """Trace this process as `role` (web, worker, beat, relay); returns whether tracing is on. Call it after a
    fork: the exporter's thread and connections do not survive one."""
    global _initialised
    if _initialised or not tracing_enabled():
        return _initialised
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) overrides the name; the role tells the processes apart.
    resource = Resource.create({"service.name": "myproject", "service.instance.role": role})
    provider = TracerProvider(resource=resource)
    # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT) and posts to <endpoint>/v1/traces.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    RedisInstrumentor().instrument()
    PsycopgInstrumentor().instrument()
    _initialised = True
    logger.info("tracing %s to %s", role, os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
    return True


def tracing_flush() -> None:
    """Export what is buffered, before a process exits."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush:
        flush()
