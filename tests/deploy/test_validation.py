"""Every overlay renders, and what it renders is valid for the cluster: core objects against Kubernetes' own
schemas (kubernetes-validate, strict: an unknown field fails), KEDA's against a schema of KEDA's documented
fields (check-jsonschema), and every YAML file under deploy/ passes yamllint. All offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import K8S, OVERLAYS, WORKERS, kustomize
from tests.support.processes import ROOT

BIN = Path(sys.executable).parent
KEDA_SCHEMA = K8S / "schemas" / "keda-scaledobject.schema.json"
# The oldest Kubernetes the manifests claim (docs/kubernetes.md) and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]


def run(*command) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, cwd=ROOT)


def test_each_overlay_renders_every_service(rendered):
    assert set(OVERLAYS) == {"local", "production"}
    for overlay, objects in rendered.items():
        kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in objects.objects}
        expected = {("Deployment", name) for name in ["web", *WORKERS, "beat", "flower", "relay"]}
        expected |= {("Job", "migrate"), ("Ingress", "web"), ("Service", "web"), ("Service", "flower")}
        expected |= {("ScaledObject", name) for name in WORKERS}
        assert expected <= kinds, f"{overlay} lacks {sorted(expected - kinds)}"


def test_rabbitmq_component_renders_onto_an_overlay(tmp_path):
    overlay = tmp_path / "with-rabbitmq"
    overlay.mkdir()
    # kustomize takes relative paths only.
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(K8S / "overlays" / "local", overlay)],
                "components": [os.path.relpath(K8S / "components" / "rabbitmq-broker", overlay)],
            }
        )
    )

    objects = kustomize(overlay)

    triggers = {obj["metadata"]["name"]: obj["spec"]["triggers"] for obj in objects if obj["kind"] == "ScaledObject"}
    assert {name: [trigger["type"] for trigger in found] for name, found in triggers.items()} == {
        name: ["rabbitmq"] for name in WORKERS
    }
    assert {name: found[0]["metadata"]["queueName"] for name, found in triggers.items()} == {
        name: name.removeprefix("worker-") for name in WORKERS
    }
    _validate_keda(tmp_path, [obj for obj in objects if obj["kind"] == "ScaledObject"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_pass_strict_kubernetes_validation(rendered, overlay, version, tmp_path):
    core = [obj for obj in rendered[overlay].objects if not obj["apiVersion"].startswith("keda.sh/")]
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(yaml.safe_dump_all(core))

    result = run(BIN / "kubernetes-validate", "--strict", "--quiet", "--kubernetes-version", version, manifest)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # Every object was checked against a schema: none skipped as an unknown kind.
    assert "skipping" not in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_objects_match_kedas_schema(rendered, overlay, tmp_path):
    _validate_keda(tmp_path, rendered[overlay].of_kind("ScaledObject"))


def test_keda_schema_refuses_a_misspelt_trigger_field(rendered, tmp_path):
    """The schema is strict enough to matter: KEDA would ignore an unknown key and scale on nothing."""
    scaled_object = json.loads(json.dumps(rendered["local"].get("ScaledObject", "worker-email")))
    metadata = scaled_object["spec"]["triggers"][0]["metadata"]
    metadata["listLenght"] = metadata.pop("listLength")
    bad = tmp_path / "misspelt.json"
    bad.write_text(json.dumps(scaled_object))

    result = run(BIN / "check-jsonschema", "--schemafile", KEDA_SCHEMA, bad)

    assert result.returncode == 1
    assert "listLenght" in result.stdout


def test_yamllint_passes_over_deploy():
    result = run(BIN / "yamllint", "--strict", "deploy/")

    assert result.returncode == 0, result.stdout + result.stderr


def _validate_keda(folder: Path, scaled_objects: list[dict]) -> None:
    assert scaled_objects
    files = []
    for scaled_object in scaled_objects:
        path = folder / f"{scaled_object['metadata']['name']}.json"
        path.write_text(json.dumps(scaled_object))
        files.append(path)

    result = run(BIN / "check-jsonschema", "--schemafile", KEDA_SCHEMA, *files)

    assert result.returncode == 0, result.stdout + result.stderr
