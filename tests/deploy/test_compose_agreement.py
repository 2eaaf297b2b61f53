"""The Kubernetes manifests run what docker-compose.yml runs: the same services, commands, environment
variable names, probes and stop grace periods. A change to one file that misses the other fails here."""

import re

import pytest

from tests.deploy.conftest import APP_IMAGE_SERVICES, OVERLAYS, WORKERS

# The compose healthchecks that are readiness-only in Kubernetes, with the reason in the manifest: a liveness
# failure restarts the pod, which would not bring a down broker back.
READINESS_ONLY = {"relay"}


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"unexpected compose duration {duration!r}"
    return int(match.group(1))


def test_every_service_of_the_app_image_has_its_workload(compose, rendered):
    # A profile's services are local tools (the monitoring profile's trace viewer): a cluster sends its traces
    # to its own collector, as it has its own Prometheus.
    app_services = sorted(
        name for name, service in compose["services"].items() if service.get("build") and not service.get("profiles")
    )

    assert app_services == sorted(APP_IMAGE_SERVICES)
    for overlay in OVERLAYS:
        app_workloads = [
            obj["metadata"]["name"]
            for obj in rendered[overlay].objects
            if obj["kind"] in {"Deployment", "Job"}
            and "django-celery-app" in obj["spec"]["template"]["spec"]["containers"][0]["image"]
        ]
        assert sorted(app_workloads) == sorted(APP_IMAGE_SERVICES), overlay


@pytest.mark.parametrize("service", APP_IMAGE_SERVICES)
def test_same_command(compose, rendered, service):
    for overlay in OVERLAYS:
        container = rendered[overlay].app_container(service)

        assert container["args"] == compose["services"][service]["command"], overlay
        # args, never command: the image's entrypoint (exec, umask) runs as under compose.
        assert "command" not in container, overlay


def test_same_environment_variable_names(compose, rendered):
    django_env = compose["x-django-env"]
    valued = {name for name, value in django_env.items() if value is not None}
    for overlay in OVERLAYS:
        names = set(rendered[overlay].config())
        secret = rendered[overlay].secret("app-secrets")
        if secret is not None:
            names |= set(secret)
        # Every name is one compose knows; names compose passes by name only are set where an overlay needs
        # them, otherwise the settings' defaults apply as under compose.
        assert names <= set(django_env), f"{overlay}: not in docker-compose.yml: {sorted(names - set(django_env))}"
        if secret is not None:
            assert valued <= names, f"{overlay} lacks {sorted(valued - names)}"
        else:  # production: the Secret is created by hand with the names docs/kubernetes.md lists
            missing = valued - names
            assert missing == {
                "DJANGO_SECRET_KEY",
                "FLOWER_BASIC_AUTH",
                "DATABASE_URL",
                "EMAIL_HOST_PASSWORD",
                "METRICS_TOKEN",
            }


@pytest.mark.parametrize("service", APP_IMAGE_SERVICES)
def test_same_per_service_environment(compose, rendered, service):
    compose_env = compose["services"][service].get("environment", compose["x-django-env"])
    own = {name: value for name, value in compose_env.items() if name not in compose["x-django-env"]}
    for overlay in OVERLAYS:
        env = {item["name"]: item["value"] for item in rendered[overlay].app_container(service).get("env", [])}

        assert env == own, overlay


@pytest.mark.parametrize("service", [name for name in APP_IMAGE_SERVICES if name != "migrate"])
def test_same_probe(compose, rendered, service):
    healthcheck = compose["services"][service]["healthcheck"]
    assert healthcheck["test"][0] == "CMD"
    for overlay in OVERLAYS:
        container = rendered[overlay].app_container(service)
        probe = container["readinessProbe" if service in READINESS_ONLY else "livenessProbe"]

        assert probe["exec"]["command"] == healthcheck["test"][1:], overlay
        assert probe["periodSeconds"] == seconds(healthcheck["interval"])
        assert probe["timeoutSeconds"] == seconds(healthcheck["timeout"])
        assert probe["failureThreshold"] == healthcheck["retries"]
        assert probe["initialDelaySeconds"] == seconds(healthcheck["start_period"])
        if service in READINESS_ONLY:
            assert "livenessProbe" not in container


@pytest.mark.parametrize("service", [name for name in APP_IMAGE_SERVICES if name != "migrate"])
def test_same_stop_grace_period(compose, rendered, service):
    # Compose's default is 10 s; Kubernetes' is 30 s, and the manifests keep at least compose's.
    compose_grace = seconds(compose["services"][service].get("stop_grace_period", "10s"))
    for overlay in OVERLAYS:
        grace = rendered[overlay].workload(service)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

        assert grace == max(compose_grace, 30), overlay


def test_workers_remap_sigterm_as_compose_does(compose, rendered):
    for worker in WORKERS:
        assert compose["services"][worker]["environment"]["REMAP_SIGTERM"] == "SIGQUIT"
        for overlay in OVERLAYS:
            env = {item["name"]: item["value"] for item in rendered[overlay].app_container(worker)["env"]}
            assert env["REMAP_SIGTERM"] == "SIGQUIT"


def test_only_services_that_wait_for_migrate_in_compose_wait_in_kubernetes(compose, rendered):
    for service in APP_IMAGE_SERVICES:
        if service == "migrate":
            continue
        waits_in_compose = "migrate" in compose["services"][service].get("depends_on", {})
        for overlay in OVERLAYS:
            init = rendered[overlay].workload(service)["spec"]["template"]["spec"].get("initContainers", [])
            assert [container["name"] for container in init] == (["wait-for-migrations"] if waits_in_compose else []), (
                f"{overlay}/{service}"
            )
