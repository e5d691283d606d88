"""The NetworkPolicies allow exactly the flows Seawall needs (issue 15, Deliver 3: zero trust).

The policies of each rendering are evaluated for each role's pod labels (a pod's allowed flows are
the union of the rules of every policy that selects it; a default deny selects them all): the API
answers only the ingress controller and Prometheus; no pod answers another Seawall pod; the
migration Job reaches PostgreSQL (and DNS) only; only the workers that call providers reach the
internet, on their providers' ports, and never a private range; only the full stack's workers reach
RabbitMQ.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import kustomize
from tests.deploy.kustomize import environment, of_kind, queue_of

PRIVATE_V4 = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8"}
PRIVATE_V6 = {"fc00::/7", "fe80::/10", "::1/128"}
INTERNET = "internet"
# What each worker queue may reach on the internet (its providers), by port.
INTERNET_PORTS = {"payments": {443}, "maintenance": {443}, "notifications": {443, 587, 465, 25},
                  "webhooks": {443, 80}, "default": set()}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _peer(peer: dict[str, Any]) -> str:
    """A peer as `<namespace>/<app name>`, or INTERNET for an ipBlock (checked to exclude private ranges)."""
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        private = PRIVATE_V4 if ":" not in block["cidr"] else PRIVATE_V6
        assert block["cidr"] in ("0.0.0.0/0", "::/0") and private <= set(block["except"]), block
        return INTERNET
    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    pod = peer["podSelector"]["matchLabels"]
    return f"{namespace}/{pod.get('app.kubernetes.io/name') or pod.get('k8s-app')}"


def _flows(objects: list[dict[str, Any]], labels: dict[str, str], direction: str) -> set[tuple[str, int]]:
    """{(peer, port)} the pod with `labels` may reach (`egress`) or be reached from (`ingress`)."""
    flows: set[tuple[str, int]] = set()
    for policy in of_kind(objects, "NetworkPolicy"):
        if direction.capitalize() not in policy["spec"]["policyTypes"]:
            continue
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get(direction, []):
            peers = rule.get("to" if direction == "egress" else "from")
            assert peers, f"{policy['metadata']['name']}: a rule without peers allows everyone"
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule without ports allows every port"
            for peer in peers:
                flows |= {(_peer(peer), port["port"]) for port in rule["ports"]}
    return flows


def _pods(objects: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """{role: (workload, pod labels)}: `api`, `migrate`, `worker-<queue>`."""
    pods = {}
    for workload in [*of_kind(objects, "Deployment"), *of_kind(objects, "Job")]:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        role = f"worker-{queue_of(workload)}" if component == "worker" else component
        pods[role] = (workload, labels)
    return pods


@pytest.fixture(scope="module", params=kustomize.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize.render(f"overlays/{request.param}", kustomize.COMPONENTS)


def test_everything_is_denied_first(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = overlay
    deny = [policy for policy in of_kind(objects, "NetworkPolicy") if policy["spec"]["podSelector"] == {}]
    assert len(deny) == 1
    assert sorted(deny[0]["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]


def test_each_role_reaches_only_what_it_needs(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = overlay
    dns = {("kube-system/kube-dns", 53)}
    postgresql = {("seawall-data/postgresql", 5432)}
    shared = {("seawall-data/redis", 6379), ("observability/opentelemetry-collector", 4318)}
    broker = {("seawall-data/rabbitmq", 5672)} if name == "full" else set()
    pods = _pods(objects)
    assert _flows(objects, pods["migrate"][1], "egress") == dns | postgresql
    # The legacy-bridge component lets the API (only) reach the legacy backend's pods.
    legacy = {("legacy/legacy", 8000)} if any(item["metadata"]["name"] == "seawall-egress-legacy"
                                               for item in objects) else set()
    assert _flows(objects, pods["api"][1], "egress") == dns | postgresql | shared | legacy
    for queue, ports in INTERNET_PORTS.items():
        internet = {(INTERNET, port) for port in ports}
        assert _flows(objects, pods[f"worker-{queue}"][1], "egress") == dns | postgresql | shared | broker | internet


def test_only_the_ingress_controller_and_prometheus_reach_seawall(overlay: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = overlay
    pods = _pods(objects)
    api, api_labels = pods["api"]
    env = environment(objects, api)
    http, metrics = int(env["SEAWALL_PORT"]), int(env["SEAWALL_METRICS_PORT"])
    prometheus = ("monitoring/prometheus", metrics)
    assert _flows(objects, api_labels, "ingress") == {("ingress-nginx/ingress-nginx", http), prometheus}
    assert _flows(objects, pods["migrate"][1], "ingress") == set()
    for role, (_, labels) in pods.items():
        if role.startswith("worker-"):
            assert _flows(objects, labels, "ingress") == {prometheus}, role
