"""deploy/compose.yaml and its configuration files, checked statically (issue 15, Deliver 2): the file
is valid under the Compose specification's JSON schema (vendored in tests/deploy/schemas), every service
that can have a health check has one and `depends_on` waits on it, every secret reaches Seawall as a
file (`SEAWALL_*_FILE`) and is made by init-secrets.sh, stop grace periods fit the shutdown settings,
and the Prometheus, Grafana and collector configurations point at what the stack really runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from seawall.config import Settings, is_secret_field
from seawall.operator_keys import key_digest, parse_operator_keys
from tests.deploy import artifacts, compose_file, image
from tests.deploy.test_promtool import run_promtool

COMPOSE = compose_file.load()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SEAWALL = compose_file.seawall_services(COMPOSE)
CONFIG_DIR = compose_file.COMPOSE_DIR / "compose"
INIT_SECRETS = CONFIG_DIR / "init-secrets.sh"
# Services whose image has no program to run a health check with (said beside each in compose.yaml).
WITHOUT_HEALTHCHECK = {"otel-collector", "jaeger"}
SECRET_VARIABLES = {f"SEAWALL_{name.upper()}" for name, field in Settings.model_fields.items()
                    if is_secret_field(field)}
MARGIN_SECONDS = 5.0  # closing pools and leaving the interpreter (docs/operations.md, graceful shutdown)


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(compose_file.SCHEMA.read_text()))


def test_the_compose_file_is_valid_under_the_compose_specification() -> None:
    errors = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator().iter_errors(COMPOSE)]
    assert not errors, errors
    assert not list(validator().iter_errors(compose_file.raw()))


def test_the_schema_rejects_what_compose_would() -> None:
    broken = json.loads(json.dumps(COMPOSE))
    broken["services"]["api"]["healthcheck"] = {"test": ["CMD", "true"], "intervall": "5s"}
    broken["services"]["worker"]["depends_on"]["migrate"]["condition"] = "service_finished"
    messages = " ".join(error.message for error in validator().iter_errors(broken))
    assert "intervall" in messages and "service_finished" in messages, messages


def test_the_stack_has_every_service_the_issue_names() -> None:
    assert {"postgres", "redis", "rabbitmq", "migrate", "api", "worker", "sandbox", "prometheus", "grafana",
            "otel-collector"} <= set(SERVICES)
    assert set(SEAWALL) == {"migrate", "api", "worker", "sandbox"}
    assert compose_file.replicas(SERVICES["api"]) == 2 and compose_file.replicas(SERVICES["worker"]) == 2
    for name in ("api", "worker"):
        service = SERVICES[name]
        assert "container_name" not in service and not service.get("ports"), f"{name} must scale: no fixed name/port"


def test_every_seawall_service_runs_the_one_image_built_from_the_dockerfile() -> None:
    images = {service["image"] for service in SEAWALL.values()}
    assert images == {"seawall:local"}
    assert [name for name, service in SERVICES.items() if "build" in service] == ["migrate"]
    commands = {name: service["command"][0] for name, service in SEAWALL.items()}
    assert commands == {"migrate": "migrate", "api": "api", "worker": "worker", "sandbox": "sandbox"}


def healthcheck(name: str) -> dict[str, Any] | None:
    """A service's health check: its own, or for a Seawall service the image's; None when disabled."""
    check = SERVICES[name].get("healthcheck")
    if check is None and name in SEAWALL:
        return {"test": ["CMD", *image.image_config().healthcheck]}
    if check is None or check.get("disable"):
        return None
    return dict(check)


def test_every_long_running_service_that_can_have_a_health_check_has_one() -> None:
    one_shot = {name for name, service in SERVICES.items() if service.get("restart") == "no"}
    assert one_shot == {"migrate"}
    missing = {name for name in SERVICES if name not in one_shot and healthcheck(name) is None}
    assert missing == WITHOUT_HEALTHCHECK
    for name in SEAWALL:
        check = healthcheck(name)
        if check is not None:
            assert check["test"][:2] == ["CMD", "seawall-healthcheck"], (name, check)


def test_depends_on_waits_for_the_migration_and_for_health() -> None:
    for name, service in SERVICES.items():
        for dependency, condition in compose_file.dependencies(service).items():
            if dependency == "migrate":
                expected = "service_completed_successfully"
            elif healthcheck(dependency) is not None:
                expected = "service_healthy"
            else:
                expected = "service_started"
            assert condition == expected, f"{name} depends on {dependency} with {condition}, not {expected}"
    for name in ("api", "worker"):
        assert {"migrate", "postgres", "redis", "rabbitmq"} <= set(compose_file.dependencies(SERVICES[name])), name
    assert compose_file.dependencies(SERVICES["migrate"]) == {"postgres": "service_healthy"}
    assert compose_file.start_order(SEAWALL).index("migrate") < compose_file.start_order(SEAWALL).index("api")


def test_every_secret_reaches_seawall_as_a_mounted_file() -> None:
    declared = COMPOSE["secrets"]
    used = {secret for service in SERVICES.values() for secret in compose_file.mounted_secrets(service).values()}
    assert used == set(declared), f"declared but unused: {set(declared) - used}"
    for name, secret in declared.items():
        assert set(secret) == {"file"} and secret["file"].startswith("./compose/secrets/"), name
    for name, service in SEAWALL.items():
        env = compose_file.environment(service)
        mounted = compose_file.mounted_secrets(service)
        for variable in SECRET_VARIABLES:
            assert variable not in env, f"{name}: {variable} as a value; give it as {variable}_FILE"
        for variable, value in env.items():
            if variable.endswith("_FILE"):
                assert variable.removesuffix("_FILE") in SECRET_VARIABLES, f"{name}: {variable} is no secret setting"
                assert value in mounted, f"{name}: {variable} names {value}, which {name} does not mount"
    assert "deploy/compose/secrets/" in (artifacts.ROOT / ".gitignore").read_text().splitlines()
    assert image.ignored("deploy/compose/secrets/database_url", image.dockerignore_patterns())


def settings_of(service: str) -> Settings:
    env = {**image.image_config().env, **compose_file.environment(SERVICES[service])}
    values = {key.removeprefix("SEAWALL_").lower(): value for key, value in env.items()
              if key.startswith("SEAWALL_") and not key.endswith("_FILE")}
    return Settings.model_validate(values)


def test_stop_grace_periods_fit_the_shutdown_settings() -> None:
    api, worker = settings_of("api"), settings_of("worker")
    api_needs = api.shutdown_readiness_delay + api.resolved_shutdown_timeout + MARGIN_SECONDS
    assert compose_file.seconds(SERVICES["api"]["stop_grace_period"]) >= api_needs
    worker_needs = worker.resolved_shutdown_timeout + MARGIN_SECONDS
    assert compose_file.seconds(SERVICES["worker"]["stop_grace_period"]) >= worker_needs
    assert image.image_config().stop_signal == "SIGTERM" and "stop_signal" not in SERVICES["api"]


def prometheus_config() -> dict[str, Any]:
    return dict(yaml.safe_load((CONFIG_DIR / "prometheus.yml").read_text()))


def container_mounts(service: str) -> dict[str, Path]:
    """{path in the container: repository file} of a service's bind mounts (`./…:/…[:ro]`)."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (compose_file.COMPOSE_DIR / source).resolve()
    return found


def test_every_bind_mounted_configuration_file_exists() -> None:
    for name in SERVICES:
        for target, source in container_mounts(name).items():
            assert source.is_file(), f"{name} mounts {source} at {target}: no such file"


def test_prometheus_scrapes_each_api_with_the_metrics_key_and_each_worker_on_its_metrics_port() -> None:
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    api, worker = jobs["seawall-api"], jobs["seawall-worker"]
    assert re.fullmatch("seawall-api.*", "seawall-api"), "the alert rules select API jobs by this name"
    assert api["dns_sd_configs"][0]["names"] == ["api"]
    assert api["dns_sd_configs"][0]["port"] == int(image.image_config().env["SEAWALL_PORT"])
    assert "SEAWALL_METRICS_PORT" not in compose_file.environment(SERVICES["api"]), "the API serves /metrics"
    credentials = api["authorization"]["credentials_file"]
    assert compose_file.mounted_secrets(SERVICES["prometheus"]) == {credentials: "prometheus_metrics_key"}
    assert worker["dns_sd_configs"][0]["names"] == ["worker"]
    worker_env = compose_file.environment(SERVICES["worker"])
    assert worker["dns_sd_configs"][0]["port"] == int(worker_env["SEAWALL_METRICS_PORT"])
    assert worker_env["SEAWALL_METRICS_HOST"] == "0.0.0.0"


def test_the_prometheus_configuration_passes_promtool_with_its_rule_file(tmp_path: Path) -> None:
    """The configuration where the container has it: the mounts laid out under a scratch root, the
    scrape key's secret a file there, and promtool's full check (rule files loaded and checked)."""
    root = tmp_path / "container"
    command = SERVICES["prometheus"]["command"]
    config_path = next(arg.split("=", 1)[1] for arg in command if arg.startswith("--config.file="))
    for target, source in container_mounts("prometheus").items():
        (root / target.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / target.lstrip("/"))
    config = prometheus_config()
    for job in config["scrape_configs"]:
        if "authorization" in job:
            key_file = root / job["authorization"]["credentials_file"].lstrip("/")
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text("swop_placeholder\n")
            job["authorization"]["credentials_file"] = str(key_file)
    (root / config_path.lstrip("/")).write_text(yaml.safe_dump(config))
    output = run_promtool("check", "config", root / config_path.lstrip("/")).stdout
    assert "alerts.yml" in output and "SUCCESS" in output, output


def test_grafana_is_provisioned_with_the_prometheus_datasource_and_the_dashboard() -> None:
    mounts = container_mounts("grafana")
    datasources = yaml.safe_load((CONFIG_DIR / "grafana" / "datasources.yaml").read_text())["datasources"]
    assert [(source["type"], source["url"], source["isDefault"]) for source in datasources] == [
        ("prometheus", "http://prometheus:9090", True)]
    provider = yaml.safe_load((CONFIG_DIR / "grafana" / "dashboards.yaml").read_text())["providers"][0]
    dashboards = {target: source for target, source in mounts.items() if source.suffix == ".json"}
    assert dashboards == {f"{provider['options']['path']}/seawall.json": artifacts.DASHBOARD}
    provisioning = {target for target in mounts if target.startswith("/etc/grafana/provisioning/")}
    assert provisioning == {"/etc/grafana/provisioning/datasources/seawall.yaml",
                            "/etc/grafana/provisioning/dashboards/seawall.yaml"}
    assert compose_file.environment(SERVICES["grafana"])["GF_SECURITY_ADMIN_PASSWORD__FILE"] in \
        compose_file.mounted_secrets(SERVICES["grafana"])


def test_the_collector_receives_where_seawall_sends_and_exports_to_jaeger() -> None:
    config = yaml.safe_load((CONFIG_DIR / "otel-collector.yaml").read_text())
    endpoint = compose_file.environment(SERVICES["api"])["OTEL_EXPORTER_OTLP_ENDPOINT"]
    http_port = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1]
    assert endpoint == f"http://otel-collector:{http_port}"
    pipeline = config["service"]["pipelines"]["traces"]
    assert set(pipeline["receivers"]) <= set(config["receivers"])
    assert set(pipeline["processors"]) <= set(config["processors"])
    assert set(pipeline["exporters"]) <= set(config["exporters"])
    assert config["exporters"]["otlp/jaeger"]["endpoint"].split(":")[0] in SERVICES
    assert container_mounts("otel-collector") == {"/etc/otelcol/config.yaml": CONFIG_DIR / "otel-collector.yaml"}


def run_init_secrets(directory: Path, **env: str) -> str:
    result = subprocess.run(["sh", str(INIT_SECRETS), str(directory)], capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"], **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_secrets_makes_every_secret_file_consistent_and_keeps_existing_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "secrets"
    run_init_secrets(directory)
    files = {path.name: path.read_text() for path in directory.iterdir()}
    expected = {compose_file.secret_file(COMPOSE, name).name for name in COMPOSE["secrets"]}
    assert set(files) == expected | {"operator_key"}, "operator_key: the operator's own key, mounted nowhere"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()} == {0o644}
    value = {name: text.removesuffix("\n") for name, text in files.items()}
    assert f":{value['postgres_password']}@postgres:5432/" in value["database_url"]
    assert value["redis_url"] == f"redis://:{value['redis_password']}@redis:6379/0"
    rabbitmq_password = re.search(r"^default_pass = (\S+)$", value["rabbitmq.conf"], re.M)
    assert rabbitmq_password and f":{rabbitmq_password.group(1)}@rabbitmq:5672/seawall" in value["broker_url"]
    ring = {key.name: key for key in parse_operator_keys(value["operator_keys"])}
    assert ring["prometheus"].scope.value == "metrics"
    assert ring["prometheus"].digest == key_digest(value["prometheus_metrics_key"])
    assert ring["operator"].scope.value == "operate" and ring["operator"].digest == key_digest(value["operator_key"])
    assert value["stripe_api_key"] == "sk_test_seawall_sandbox"
    # Seawall reads them as the compose file gives them.
    for variable, path in compose_file.environment(SERVICES["api"]).items():
        if variable.endswith("_FILE"):
            monkeypatch.setenv(variable, str(directory / compose_file.secret_file(
                COMPOSE, compose_file.mounted_secrets(SERVICES["api"])[path]).name))
    settings = Settings()
    assert settings.admin_enabled and not settings.is_embedded_database
    # A second run keeps every file; a deleted one is made again.
    (directory / "grafana_admin_password").unlink()
    output = run_init_secrets(directory, STRIPE_API_KEY="sk_live_other")
    assert {path.name: path.read_text() for path in directory.iterdir() if path.name != "grafana_admin_password"} == {
        name: text for name, text in files.items() if name != "grafana_admin_password"}
    assert "created" in output and output.count("created") == 1


def test_yamllint_passes_on_every_yaml_file_under_deploy() -> None:
    yamllint = Path(sys.executable).parent / "yamllint"
    files = sorted(p for p in (artifacts.ROOT / "deploy").rglob("*") if p.suffix in (".yml", ".yaml"))
    assert compose_file.COMPOSE_FILE in files and len(files) >= 8
    result = subprocess.run([str(yamllint), "--strict", "-c", str(artifacts.ROOT / ".yamllint"), "deploy"],
                            capture_output=True, text=True, timeout=120, cwd=artifacts.ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_catches_what_the_configuration_forbids(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  api:\n    enabled: yes\n    image: x   \n")
    yamllint = Path(sys.executable).parent / "yamllint"
    result = subprocess.run([str(yamllint), "--strict", "-c", str(artifacts.ROOT / ".yamllint"), str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "truthy" in result.stdout and "trailing-spaces" in result.stdout
