"""Every variable .env.example documents reaches the containers as .env sets it. Compose reads .env only to fill
in the compose file, so a variable the file does not pass on never reaches Django or Celery."""

import json
import re
import subprocess

from tests.compose.conftest import REPO

# Documented in .env.example but deliberately not passed to the Django/Celery containers as they are.
NOT_PASSED = {
    # read by compose itself
    "COMPOSE_FILE",
    "REDIS_IMAGE",
    "POSTGRES_IMAGE",
    "MAILPIT_IMAGE",
    "NGINX_IMAGE",
    "WEB_PUBLISH",
    "FLOWER_PUBLISH_PORT",
    "MAILPIT_PUBLISH_PORT",
    "TRACES_PUBLISH_PORT",
    # given to the postgres and grafana services; compose builds DATABASE_URL from the first three
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_DB",
    "GRAFANA_ADMIN_PASSWORD",
    # the trace viewer's, given to the traces service only
    "TRACE_VIEWER_ADDRESS",
    "TRACE_VIEWER_PORT",
    "TRACE_VIEWER_FILE",
    "TRACE_VIEWER_MAX_BYTES",
    # fixed by compose for its own network, volume and published ports
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_MEDIA_ROOT",
    "WEB_PORT",
    "FLOWER_ADDRESS",
    "FLOWER_PORT",
    # read by `make run` only
    "EMBEDDED_POSTGRES_PORT",
    "EMBEDDED_REDIS_PORT",
    "RUN_DIR",
}


def documented_variables() -> set[str]:
    """Every NAME= line of .env.example, set or commented out (but not the `# prod:` examples)."""
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.MULTILINE))


def container_env(stack, service: str) -> dict[str, str]:
    container = stack.compose("ps", "-q", service).split()[0]
    record = json.loads(
        subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
    )[0]
    # Compose passes an unset variable as a bare NAME, which leaves it unset in the container.
    return dict(entry.split("=", 1) for entry in record["Config"]["Env"] if "=" in entry)


def test_every_documented_variable_reaches_web_and_the_workers(healthy_stack):
    expected = {name: healthy_stack.env[name] for name in documented_variables() - NOT_PASSED}

    for service in ("web", "worker-default", "worker-bulk", "beat", "flower"):
        seen = container_env(healthy_stack, service)
        assert {name: seen.get(name) for name in expected} == expected, service


def test_the_exceptions_are_documented_variables():
    assert documented_variables() >= NOT_PASSED
