"""What the manifests promise beyond compose: one beat, workers stopped by Celery's soft shutdown, autoscaling
on each queue, probes that never take web out for the rest of the system, limits from measured memory,
nothing but web reachable from outside, no secret committed, non-root pods, files in a bucket or on one volume."""

import re
import sys
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.module_loading import import_string
from kombu.transport.redis import PRIORITY_STEPS

from tests.deploy.conftest import OVERLAYS, WORKERS
from tests.support.processes import ROOT

MEBIBYTE = 1024 * 1024
# PostgreSQL's default max_connections (100) less its superuser_reserved_connections (3).
POSTGRES_CONNECTIONS_FOR_THE_APP = 97
# Django connections a web pod can hold: one per gunicorn thread (gunicorn.conf.py's default WEB_THREADS).
GUNICORN_THREADS = 4


def pod_specs(rendered):
    for overlay in OVERLAYS:
        for obj in rendered[overlay].objects:
            if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
                yield f"{overlay}/{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def memory_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (MEBIBYTE if unit == "Mi" else 1024 * MEBIBYTE)


def worker_argument(container: dict, flag: str) -> str:
    return container["args"][container["args"].index(flag) + 1]


def test_beat_is_one_replica_replaced_never_overlapped_and_not_autoscaled(rendered):
    for overlay in OVERLAYS:
        beat = rendered[overlay].get("Deployment", "beat")

        assert beat["spec"]["replicas"] == 1
        assert beat["spec"]["strategy"] == {"type": "Recreate"}
        targets = [obj["spec"]["scaleTargetRef"]["name"] for obj in rendered[overlay].of_kind("ScaledObject")]
        assert "beat" not in targets


def test_workers_outlast_celerys_soft_shutdown(rendered):
    for overlay in OVERLAYS:
        for worker in WORKERS:
            deployment = rendered[overlay].get("Deployment", worker)
            grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

            assert grace > settings.CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT
            # A rolling update starts the new worker before stopping an old one.
            assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_each_worker_scales_on_its_own_queue(rendered):
    for overlay in OVERLAYS:
        scaled = {obj["spec"]["scaleTargetRef"]["name"]: obj for obj in rendered[overlay].of_kind("ScaledObject")}
        assert sorted(scaled) == sorted(WORKERS)
        for worker in WORKERS:
            queue = worker_argument(rendered[overlay].app_container(worker), "-Q")
            triggers = scaled[worker]["spec"]["triggers"]

            assert {trigger["type"] for trigger in triggers} == {"redis"}
            assert triggers[0]["metadata"]["listName"] == queue
            # An HPA owns the replica count: an apply must not reset it.
            assert "replicas" not in rendered[overlay].get("Deployment", worker)["spec"]


def test_only_bulk_scales_to_zero_and_only_after_its_longest_task(rendered):
    for overlay in OVERLAYS:
        spec = {obj["metadata"]["name"]: obj["spec"] for obj in rendered[overlay].of_kind("ScaledObject")}

        assert spec["worker-bulk"]["minReplicaCount"] == 0
        assert spec["worker-default"]["minReplicaCount"] >= 1
        assert spec["worker-email"]["minReplicaCount"] >= 1
        # A task may wait out a countdown and then run, each bounded by the visibility timeout: the last pod
        # stays at least that long after the queue empties.
        assert spec["worker-bulk"]["cooldownPeriod"] >= 2 * settings.CELERY_VISIBILITY_TIMEOUT


def test_a_bulk_task_of_any_priority_wakes_a_pod(rendered):
    """Low-priority django.tasks wait in kombu's priority lists (`<queue>\\x06\\x16<step>`), which the queue's
    own list does not count; with bulk at zero pods, each list must wake one."""
    lists = ["bulk", *(f"bulk\x06\x16{step}" for step in PRIORITY_STEPS[1:])]
    for overlay in OVERLAYS:
        triggers = rendered[overlay].get("ScaledObject", "worker-bulk")["spec"]["triggers"]

        assert [trigger["metadata"]["listName"] for trigger in triggers] == lists
        assert {trigger["metadata"]["activationListLength"] for trigger in triggers} == {"0"}


def test_queues_reach_their_alert_threshold_only_at_max_replicas(rendered):
    thresholds = settings.QUEUE_DEPTH_THRESHOLDS
    for overlay in OVERLAYS:
        for obj in rendered[overlay].of_kind("ScaledObject"):
            queue = obj["spec"]["triggers"][0]["metadata"]["listName"]
            target = int(obj["spec"]["triggers"][0]["metadata"]["listLength"])

            assert target * obj["spec"]["maxReplicaCount"] <= thresholds[queue], f"{overlay}/{queue}"


def test_scalers_read_the_brokers_redis(rendered):
    for overlay in OVERLAYS:
        broker = urlsplit(rendered[overlay].config()["CELERY_BROKER_URL"])
        for obj in rendered[overlay].of_kind("ScaledObject"):
            for trigger in obj["spec"]["triggers"]:
                metadata = trigger["metadata"]

                assert metadata["address"] == f"{broker.hostname}:{broker.port}", overlay
                assert metadata["databaseIndex"] == (broker.path.strip("/") or "0"), overlay


def test_every_pod_at_its_largest_fits_postgres_connections(rendered):
    """maxReplicaCount is bounded by the database, not by throughput: every pod's connections together stay
    within PostgreSQL's default limit (docs/kubernetes.md)."""
    for overlay in OVERLAYS:
        objects = rendered[overlay]
        max_pods = {
            obj["spec"]["scaleTargetRef"]["name"]: obj["spec"]["maxReplicaCount"]
            for obj in objects.of_kind("ScaledObject")
        }
        connections = 0
        for worker in WORKERS:
            # Each pool process holds one, and so may the worker's main process (dead letters, heartbeats).
            connections += max_pods[worker] * (int(worker_argument(objects.app_container(worker), "--concurrency")) + 1)
        web_per_pod = int(objects.config()["WEB_CONCURRENCY"]) * GUNICORN_THREADS
        connections += objects.get("Deployment", "web")["spec"]["replicas"] * web_per_pod
        connections += (
            objects.get("Deployment", "beat")["spec"]["replicas"]
            + objects.get("Deployment", "relay")["spec"]["replicas"]
        )

        assert connections <= POSTGRES_CONNECTIONS_FOR_THE_APP, f"{overlay}: {connections} connections"


def test_web_is_ready_on_healthz_and_no_probe_asks_for_the_whole_system(rendered):
    for overlay in OVERLAYS:
        readiness = rendered[overlay].app_container("web")["readinessProbe"]["httpGet"]

        assert readiness["path"] == "/healthz"
        # The Host header must be one Django answers to, or every probe is a 400.
        host = {header["name"]: header["value"] for header in readiness["httpHeaders"]}["Host"]
        assert host in rendered[overlay].config()["DJANGO_ALLOWED_HOSTS"].split(",")
    for name, pod in pod_specs(rendered):
        for container in pod["containers"] + pod.get("initContainers", []):
            probes = [container.get(kind) for kind in ("livenessProbe", "readinessProbe", "startupProbe")]
            assert "healthz/system" not in repr(probes), name


def test_memory_requests_cover_what_compose_measured(rendered):
    table = (ROOT / "docs" / "docker.md").read_text().split("Memory of each service at rest")[1]
    measured = {
        service: int(mebibytes) * MEBIBYTE
        for service, mebibytes in re.findall(r"^\| `([a-z-]+)`[^|]*\| (\d+) MiB \|", table, re.M)
    }
    assert {"web", *WORKERS, "beat", "flower", "relay"} <= set(measured)
    for overlay in OVERLAYS:
        for service in ["web", *WORKERS, "beat", "flower", "relay"]:
            resources = rendered[overlay].app_container(service)["resources"]
            request = memory_bytes(resources["requests"]["memory"])
            limit = memory_bytes(resources["limits"]["memory"])

            assert measured[service] <= request <= limit, f"{overlay}/{service}"


def test_ingress_refuses_what_the_app_would_refuse(rendered):
    """The body limit in front of gunicorn is the upload limit the app applies: CONTACT_IMPORT_MAX_BYTES (at
    its default here) plus the multipart framing RequestBodyLimitMiddleware allows around the file."""
    (middleware_path,) = [path for path in settings.MIDDLEWARE if path.endswith(".RequestBodyLimitMiddleware")]
    allowance = sys.modules[import_string(middleware_path).__module__].MULTIPART_ALLOWANCE_BYTES
    assert settings.CONTACT_IMPORT_MAX_BYTES == 10_000_000, "run the suite with CONTACT_IMPORT_MAX_BYTES unset"
    for overlay in OVERLAYS:
        annotations = rendered[overlay].get("Ingress", "web")["metadata"]["annotations"]

        assert (
            int(annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
            == settings.CONTACT_IMPORT_MAX_BYTES + allowance
        )


def test_flower_and_metrics_stay_inside_the_cluster(rendered):
    for overlay in OVERLAYS:
        objects = rendered[overlay]
        backends = {
            (path["path"], path["backend"]["service"]["name"], ingress["metadata"]["name"])
            for ingress in objects.of_kind("Ingress")
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        }
        assert {name for _, name, _ in backends} == {"web"}
        metrics = objects.get("Ingress", "web-metrics-internal")
        assert metrics["spec"]["rules"][0]["http"]["paths"][0]["pathType"] == "Exact"
        assert ("/metrics", "web", "web-metrics-internal") in backends
        denied = metrics["metadata"]["annotations"]["nginx.ingress.kubernetes.io/denylist-source-range"]
        assert set(denied.split(",")) == {"0.0.0.0/0", "::/0"}

        policies = {obj["metadata"]["name"]: obj["spec"] for obj in objects.of_kind("NetworkPolicy")}
        assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
        from_outside = [
            (spec["podSelector"], rule)
            for spec in policies.values()
            for rule in spec.get("ingress", [])
            if any("namespaceSelector" in peer or "ipBlock" in peer for peer in rule["from"])
        ]
        assert [selector for selector, _ in from_outside] == [{"matchLabels": {"app.kubernetes.io/component": "web"}}]
        assert from_outside[0][1]["ports"] == [{"protocol": "TCP", "port": 8000}]


def test_each_scaled_deployment_and_web_has_a_disruption_budget(rendered):
    for overlay in OVERLAYS:
        budgets = {obj["metadata"]["name"]: obj["spec"] for obj in rendered[overlay].of_kind("PodDisruptionBudget")}

        assert sorted(budgets) == sorted(["web", *WORKERS])
        for name, spec in budgets.items():
            # maxUnavailable, so one replica never blocks a node drain.
            assert spec == {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/component": name}}}


def test_no_real_secret_is_committed(rendered):
    assert rendered["production"].of_kind("Secret") == []
    local = rendered["local"].secret("app-secrets")
    for name in ("DJANGO_SECRET_KEY", "FLOWER_BASIC_AUTH", "DATABASE_URL"):
        assert "local-only" in local[name], name
    for overlay in OVERLAYS:
        for name in ("DJANGO_SECRET_KEY", "FLOWER_BASIC_AUTH", "DATABASE_URL", "METRICS_TOKEN", "EMAIL_HOST_PASSWORD"):
            assert name not in rendered[overlay].config(), f"{overlay}: {name} belongs in the Secret"


def test_every_pod_runs_as_a_non_root_user_without_privileges(rendered):
    image_user = int(re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))
    for name, pod in pod_specs(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
            if "django-celery-app" in container["image"]:
                assert pod["securityContext"]["runAsUser"] == image_user, name
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_production_pods_share_no_disk_and_keep_files_in_a_bucket(rendered):
    production = rendered["production"]

    assert production.of_kind("PersistentVolumeClaim") == []
    assert production.config()["AWS_STORAGE_BUCKET_NAME"]
    for name, spec in pod_specs(rendered):
        if name.startswith("production/"):
            assert all("persistentVolumeClaim" not in volume for volume in spec.get("volumes", [])), name


def test_without_a_bucket_web_and_every_worker_mount_the_one_media_volume(rendered):
    local = rendered["local"]
    media_root = local.config()["DJANGO_MEDIA_ROOT"]

    assert "AWS_STORAGE_BUCKET_NAME" not in local.config()
    for service in ["web", *WORKERS]:
        assert {"name": "media", "mountPath": media_root} in local.app_container(service)["volumeMounts"], service
        volumes = local.workload(service)["spec"]["template"]["spec"]["volumes"]
        assert {"name": "media", "persistentVolumeClaim": {"claimName": "media"}} in volumes, service
