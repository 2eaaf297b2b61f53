"""The Kubernetes manifests of deploy/k8s, rendered once per overlay with `kubectl kustomize`, as a cluster
would receive them."""

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.processes import ROOT

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir() if (path / "kustomization.yaml").exists())
# The Django/Celery services of docker-compose.yml, each a Deployment (migrate: a Job) of the same name.
APP_IMAGE_SERVICES = ["migrate", "web", "worker-default", "worker-email", "worker-bulk", "beat", "flower", "relay"]
WORKERS = ["worker-default", "worker-email", "worker-bulk"]


def kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not installed (make test installs it through scripts/system-deps)"
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class Rendered:
    """One overlay's objects, looked up by kind and name."""

    def __init__(self, objects: list[dict]):
        self.objects = objects

    def of_kind(self, kind: str) -> list[dict]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        found = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def workload(self, service: str) -> dict:
        return self.get("Job" if service == "migrate" else "Deployment", service)

    def app_container(self, service: str) -> dict:
        return self.workload(service)["spec"]["template"]["spec"]["containers"][0]

    def config(self) -> dict[str, str]:
        (config_map,) = [obj for obj in self.of_kind("ConfigMap") if obj["metadata"]["name"].startswith("app-config")]
        return config_map["data"]

    def secret(self, prefix: str) -> dict[str, str] | None:
        found = [obj for obj in self.of_kind("Secret") if obj["metadata"]["name"].startswith(prefix)]
        if not found:
            return None
        return {key: base64.b64decode(value).decode() for key, value in (found[0].get("data") or {}).items()}


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    return {overlay: Rendered(kustomize(K8S / "overlays" / overlay)) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())
