"""The Kubernetes manifests under `deploy/kubernetes/`, rendered and read: shared by the
`test_kubernetes_*` tests; no test here.

`render(overlay, components)` runs `kubectl kustomize` (the kustomize built into kubectl; no cluster is
contacted) on a copy of the tree, so that a combination of an overlay and optional components can be
rendered without writing into the repository. Renders are cached per combination for the session.
`validate_custom_resource` checks a KEDA object against the CRD schema vendored in `keda/`.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils
import yaml

from tests.support.services import require_command

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("full", "database")
COMPONENTS = tuple(sorted(path.name for path in (KUBERNETES / "components").iterdir() if path.is_dir()))
EXAMPLE_SECRETS = KUBERNETES / "examples" / "secrets.yaml"
KEDA_CRDS = Path(__file__).resolve().parent / "keda"
SECRET_MOUNT = "/run/secrets/seawall/"

# kubernetes-validate reads and parses its schema files (the definitions alone are megabytes) on every
# call: keep each parsed file for the session (its `validate` looks the function up at each call).
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)


def kubectl() -> str:
    """The kubectl binary (its built-in kustomize renders the manifests)."""
    return require_command("kubectl", "https://kubernetes.io/docs/tasks/tools/")


@functools.cache
def _render(target: str, components: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    with tempfile.TemporaryDirectory(prefix="seawall-kustomize-") as directory:
        tree = Path(directory) / "kubernetes"
        shutil.copytree(KUBERNETES, tree)
        root = tree / target
        if components:
            root = tree / "rendered"
            root.mkdir()
            (root / "kustomization.yaml").write_text(yaml.safe_dump({
                "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                "resources": [f"../{target}"], "components": [f"../components/{name}" for name in components]}))
        result = subprocess.run([kubectl(), "kustomize", str(root)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {target} {components}: {result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(target: str, components: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize deploy/kubernetes/<target>` prints, with `components` added
    (names under `components/`). A deep copy: callers may change it."""
    return copy.deepcopy(list(_render(target, components)))


def renders() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(label, objects) for the base, each overlay alone, and each overlay with every component."""
    yield "base", render("base")
    for overlay in OVERLAYS:
        yield overlay, render(f"overlays/{overlay}")
        yield f"{overlay} + all components", render(f"overlays/{overlay}", COMPONENTS)


def source_files() -> list[Path]:
    """Every YAML file under deploy/kubernetes."""
    return sorted(KUBERNETES.rglob("*.yaml"))


def source_objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object written in a file as is (kustomize's own files left out)."""
    for path in source_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and not str(doc.get("apiVersion", "")).startswith("kustomize.config.k8s.io/"):
                yield path, doc


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [item for item in of_kind(objects, kind) if item["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def config_map(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The data of the generated `seawall-config-<hash>` ConfigMap."""
    maps = [item for item in of_kind(objects, "ConfigMap") if item["metadata"]["name"].startswith("seawall-config")]
    assert len(maps) == 1
    return dict(maps[0]["data"])


def container(workload: dict[str, Any]) -> dict[str, Any]:
    """The one container of a Deployment's or Job's pod template."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container expected"
    return dict(containers[0])


def environment(objects: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, str]:
    """The environment the container sees: the ConfigMap it loads, then its own `env` on top."""
    values: dict[str, str] = {}
    for source in container(workload).get("envFrom", []):
        assert source["configMapRef"]["name"].startswith("seawall-config")
        values.update(config_map(objects))
    values.update({item["name"]: item["value"] for item in container(workload).get("env", [])})
    return values


def queue_of(worker: dict[str, Any]) -> str:
    """The queue a worker Deployment runs: its `--queues` argument (one queue)."""
    args = container(worker)["args"]
    assert args[:2] == ["worker", "--queues"] and len(args) == 3, args
    return str(args[2])


def _strict(schema: Any) -> Any:
    """A CRD's OpenAPI v3 schema as a JSON schema that rejects unknown fields, as the API server
    does (structural schemas prune them; `kubectl apply` with strict field validation refuses them).
    `x-kubernetes-int-or-string` becomes integer-or-string."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _strict(value) for key, value in schema.items()}
    if converted.pop("x-kubernetes-int-or-string", False):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if ("properties" in converted and "additionalProperties" not in converted
            and not converted.get("x-kubernetes-preserve-unknown-fields")):
        converted["additionalProperties"] = False
    return converted


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict JSON schema, for each vendored CRD's served versions."""
    schemas = {}
    for path in sorted(KEDA_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            if version["served"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schema["properties"]["metadata"] = {"type": "object"}  # checked by Kubernetes' own ObjectMeta
                schemas[key] = _strict(schema)
    return schemas


def is_custom_resource(item: dict[str, Any]) -> bool:
    return (item["apiVersion"], item["kind"]) in _crd_schemas()


def validate_custom_resource(item: dict[str, Any]) -> None:
    """Raises `jsonschema.ValidationError` when `item` breaks its vendored CRD's schema."""
    jsonschema.validate(item, _crd_schemas()[(item["apiVersion"], item["kind"])],
                        cls=jsonschema.Draft7Validator)
