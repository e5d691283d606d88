"""The Kubernetes manifests (issue 15, Deliver 3) are valid and hold what an operator relies on.

Every object of `deploy/kubernetes/`, as written and as rendered by `kubectl kustomize` (the base,
each overlay, each overlay with every optional component), validates against the Kubernetes schemas
(`kubernetes-validate`, strict: an unknown field fails) of the oldest Kubernetes the manifests
support and of the newest the package ships; KEDA's objects against KEDA's own CRD schemas
(`keda/SOURCE.md`); every YAML file passes yamllint (tests/deploy/test_compose_file.py, over all of
deploy/). Then what the schemas cannot see: each role runs non-root on a read-only root file system
with no capabilities, has requests and limits, probes and a PodDisruptionBudget, and stops within its grace period.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.deploy import kustomize
from tests.deploy.kustomize import container, environment, of_kind

# The oldest Kubernetes the manifests need (the `sleep` preStop action is on by default from 1.30),
# and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
# Seconds of margin after the last shutdown step: closing pools and leaving the interpreter
# (docs/operations.md "Graceful shutdown").
EXIT_MARGIN_SECONDS = 5


@pytest.fixture(scope="module", params=["base", "full", "full + all components", "database",
                                        "database + all components"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return dict(kustomize.renders())[request.param]


def _validate(item: dict[str, Any]) -> None:
    if kustomize.is_custom_resource(item):
        kustomize.validate_custom_resource(item)
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(item, version, strict=True)


def test_every_rendered_object_validates_against_its_schema(rendered: list[dict[str, Any]]) -> None:
    for item in rendered:
        try:
            _validate(item)
        except kubernetes_validate.SchemaNotFoundError as exc:
            pytest.fail(f"{item['kind']}/{item['metadata']['name']}: {exc.message}")


def test_every_object_as_written_validates_against_its_schema() -> None:
    found = list(kustomize.source_objects())
    assert {doc["kind"] for _, doc in found} >= {"Deployment", "Job", "ScaledObject", "TriggerAuthentication",
                                                 "NetworkPolicy", "Secret", "HorizontalPodAutoscaler"}
    for _, doc in found:
        _validate(doc)


def test_a_misspelt_field_fails_validation() -> None:
    """The checks above can fail: an unknown field is refused in a core object and in a KEDA one."""
    objects = kustomize.render("overlays/full")
    deployment = of_kind(objects, "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)
    scaled = of_kind(objects, "ScaledObject")[0]
    scaled["spec"]["minReplicas"] = 1
    with pytest.raises(Exception, match="minReplicas"):
        _validate(scaled)


def test_each_role_runs_unprivileged(rendered: list[dict[str, Any]]) -> None:
    for workload in [*of_kind(rendered, "Deployment"), *of_kind(rendered, "Job")]:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        # docs/deploy.md: a PodMonitor selects the pods by this label.
        assert workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "seawall", name
        assert pod["serviceAccountName"] == "seawall" and pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        security = container(workload)["securityContext"]
        assert security == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}}, name
        mounts = {mount["mountPath"]: mount["name"] for mount in container(workload)["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be writable (prometheus multiprocess dir)"
    for account in of_kind(rendered, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_each_role_has_requests_limits_and_probes(rendered: list[dict[str, Any]]) -> None:
    for workload in [*of_kind(rendered, "Deployment"), *of_kind(rendered, "Job")]:
        name = workload["metadata"]["name"]
        resources = container(workload)["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) == {"cpu", "memory"}, f"{name}: {bound}"
        if workload["kind"] == "Deployment":
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container(workload), f"{name}: no {probe}"
            assert workload["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
            assert "replicas" not in workload["spec"], f"{name}: the autoscaler owns the replica count"


def test_every_deployment_has_a_disruption_budget_that_selects_its_pods(rendered: list[dict[str, Any]]) -> None:
    budgets = of_kind(rendered, "PodDisruptionBudget")
    for deployment in of_kind(rendered, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [budget for budget in budgets
                    if budget["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, deployment["metadata"]["name"]
        assert matching[0]["spec"]["selector"] == deployment["spec"]["selector"]


def test_the_grace_period_covers_prestop_readiness_delay_and_shutdown_timeout(rendered: list[dict[str, Any]]) -> None:
    """terminationGracePeriodSeconds >= preStop sleep + SEAWALL_SHUTDOWN_READINESS_DELAY +
    SEAWALL_SHUTDOWN_TIMEOUT + margin, each read from the manifests (or the setting's default)."""
    from seawall.config import Settings

    defaults = Settings()
    for deployment in of_kind(rendered, "Deployment"):
        env = environment(rendered, deployment)
        delay = float(env.get("SEAWALL_SHUTDOWN_READINESS_DELAY", defaults.shutdown_readiness_delay))
        timeout = float(env.get("SEAWALL_SHUTDOWN_TIMEOUT", defaults.shutdown_timeout))
        pre_stop = container(deployment).get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= pre_stop + delay + timeout + EXIT_MARGIN_SECONDS, deployment["metadata"]["name"]


def test_the_api_leaves_the_endpoints_before_it_stops_listening(rendered: list[dict[str, Any]]) -> None:
    api = kustomize.named(rendered, "Deployment", "seawall-api")
    assert container(api)["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert float(environment(rendered, api)["SEAWALL_SHUTDOWN_READINESS_DELAY"]) > 0


def test_the_api_scales_on_cpu_and_the_hpa_targets_it(rendered: list[dict[str, Any]]) -> None:
    (hpa,) = of_kind(rendered, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "seawall-api"}
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2  # with maxUnavailable 1 in its PDB, a drain keeps one serving


def test_the_migration_job_retries_a_little_and_cleans_up(rendered: list[dict[str, Any]]) -> None:
    (job,) = of_kind(rendered, "Job")
    assert container(job)["args"] == ["migrate"]
    assert 1 <= job["spec"]["backoffLimit"] <= 6
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_migration_step_applies_what_the_job_needs_and_no_deployment(rendered: list[dict[str, Any]]) -> None:
    """docs/deploy.md step 4 applies `-l 'app.kubernetes.io/component in (shared,migrate)'` before the
    rollout: the namespace, the service account, the ConfigMap, every network policy and the Job."""
    selected = {(item["kind"], item["metadata"]["name"]) for item in rendered
                if item["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("shared", "migrate")}
    needed = {(item["kind"], item["metadata"]["name"]) for item in rendered
              if item["kind"] in ("Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy", "Job")}
    assert selected == needed
