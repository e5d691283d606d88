"""deploy/compose.yaml as Docker Compose reads it: variables interpolated, YAML anchors and merge keys
resolved; its Seawall services (those running the Seawall image), their secrets and start order.

Shared by the tests of this package; no test here. Interpolation follows the Compose specification
(`${NAME}`, `${NAME:-default}`, `${NAME-default}`, `$NAME`, `$$` for a literal `$`) with no variable
set, so every value is the file's own default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.artifacts import ROOT

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
COMPOSE_DIR = COMPOSE_FILE.parent
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
SECRETS_DIR = "/run/secrets"
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}


def raw() -> dict[str, Any]:
    """The file as YAML, uninterpolated (what the schema validates: Compose validates before it interpolates)."""
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        value = environment.get(name)
        if match.group(2) == ":-" and not value:
            return match.group(3)
        if match.group(2) == "-" and value is None:
            return match.group(3)
        return value or ""

    return _VARIABLE.sub(substitute, text)


def _interpolated(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, list):
        return [_interpolated(item, environment) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(value, environment) for key, value in node.items()}
    return node


def load(environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    return dict(_interpolated(raw(), environment or {}))


def seawall_image(compose: Mapping[str, Any]) -> str:
    """The image of the one-shot `migrate` service, which builds it from the repository's Dockerfile."""
    migrate = compose["services"]["migrate"]
    assert migrate["build"]["context"] == ".." and migrate["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    return str(migrate["image"])


def seawall_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    image = seawall_image(compose)
    return {name: service for name, service in compose["services"].items() if service.get("image") == image}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, map or list form, as strings."""
    given = service.get("environment") or {}
    if isinstance(given, list):
        given = dict(item.split("=", 1) for item in given)
    return {str(key): "" if value is None else str(value) for key, value in given.items()}


def mounted_secrets(service: Mapping[str, Any]) -> dict[str, str]:
    """{path in the container: secret name} for a service's `secrets` (short or long syntax)."""
    found: dict[str, str] = {}
    for entry in service.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        found[target if target.startswith("/") else f"{SECRETS_DIR}/{target}"] = source
    return found


def dependencies(service: Mapping[str, Any]) -> dict[str, str]:
    """{service: condition} of `depends_on` (the short list form means `service_started`)."""
    given = service.get("depends_on") or {}
    if isinstance(given, list):
        return {name: "service_started" for name in given}
    return {name: spec.get("condition", "service_started") for name, spec in given.items()}


def start_order(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The names of `services` ordered so that each comes after those it depends on (among them)."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        assert name not in visiting, f"depends_on cycle through {name}"
        visiting.add(name)
        for dependency in dependencies(services[name]):
            if dependency in services:
                visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in services:
        visit(name)
    return ordered


def replicas(service: Mapping[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def seconds(duration: str | int | float) -> float:
    """A Compose duration (`1m30s`, `500ms`, or a number of seconds) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = _DURATION.findall(duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def secret_file(compose: Mapping[str, Any], name: str) -> Path:
    """The host file of a top-level secret (relative to the compose file's directory)."""
    return (COMPOSE_DIR / compose["secrets"][name]["file"]).resolve()
