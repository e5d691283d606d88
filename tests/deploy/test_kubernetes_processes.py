"""Seawall starts, answers its probes and stops in time with exactly the manifests' environment
(issue 15, Deliver 3).

The API and the payments worker of `overlays/full` run as real processes with their container's
arguments and environment (the ConfigMap, then the container's `env`), their secrets as files named
by the `_FILE` variables, on a read-only data directory and home with only a scratch `/tmp` (the pod's
`emptyDir`), against the test's PostgreSQL, Redis and RabbitMQ. Changed for this machine only: every
address is loopback, the ports are free ones, no trace exporter (no collector here), and the test's
own queue and key prefixes. Each answers its probes (`/readyz`, `/livez`; the worker's metrics port),
and SIGTERM ends each with status 0 within its grace period less its preStop hook.
"""

from __future__ import annotations

import signal
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from seawall.config import Settings, reveal
from tests.deploy import kustomize
from tests.deploy.kustomize import SECRET_MOUNT, container, environment
from tests.support.server import SeawallProcess, ServerFactory, free_port

STARTUP_SECONDS = 30.0


def _secret_files(settings: Settings, directory: Path) -> Path:
    """The Secret `seawall` as the pod sees it: one file per key, each ending in a newline."""
    directory.mkdir()
    values = {"database-url": reveal(settings.database_url), "secret-key": reveal(settings.secret_key),
              "redis-url": reveal(settings.redis_url), "broker-url": reveal(settings.broker_url),
              "stripe-api-key": "sk_test_kubernetes_manifests"}
    for key, value in values.items():
        assert value, key
        (directory / key).write_text(value + "\n")
    return directory


def _process_environment(objects: list[dict[str, Any]], deployment: dict[str, Any], *, secrets: Path,
                         read_only: Path, scratch: Path, settings: Settings) -> dict[str, str]:
    env = environment(objects, deployment)
    for variable, value in env.items():
        if variable.endswith("_FILE"):
            env[variable] = str(secrets / value.removeprefix(SECRET_MOUNT))
    env.update(SEAWALL_METRICS_HOST="127.0.0.1", SEAWALL_METRICS_PORT=str(free_port()), OTEL_TRACES_EXPORTER="none",
               SEAWALL_VAR_DIR=str(read_only), HOME=str(read_only), TMPDIR=str(scratch),
               SEAWALL_BROKER_QUEUE_PREFIX=settings.broker_queue_prefix,
               SEAWALL_REDIS_KEY_PREFIX=settings.redis_key_prefix)
    return env


def _wait_for(url: str, process: SeawallProcess) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.process.poll() is None, f"{process.role} exited:\n{process.log()}"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer 200 within {STARTUP_SECONDS} s:\n{process.log()}")


def _stop_within(process: SeawallProcess, deployment: dict[str, Any]) -> None:
    """SIGTERM; exit 0 before the grace period less the preStop hook (which runs before SIGTERM) is out."""
    pod = deployment["spec"]["template"]["spec"]
    pre_stop = container(deployment).get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    budget = pod["terminationGracePeriodSeconds"] - pre_stop
    started = time.monotonic()
    process.signal(signal.SIGTERM)
    assert process.process.wait(timeout=budget + 10) == 0, process.log()
    assert time.monotonic() - started <= budget, f"{deployment['metadata']['name']} took longer than {budget} s"


@pytest.mark.backends("full")
def test_the_api_and_a_worker_run_with_the_manifests_environment(settings: Settings, runtime: object,
                                                                 tmp_path: Path) -> None:
    objects = kustomize.render("overlays/full")
    secrets = _secret_files(settings, tmp_path / "secrets")
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(stat.S_IRUSR | stat.S_IXUSR)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    factory = ServerFactory(var_dir=tmp_path, admin_key="unused-admin-key-0123456789")  # logs in tmp_path
    try:
        api = kustomize.named(objects, "Deployment", "seawall-api")
        api_env = _process_environment(objects, api, secrets=secrets, read_only=read_only, scratch=scratch,
                                       settings=settings)
        worker = kustomize.named(objects, "Deployment", "seawall-worker-payments")
        worker_env = _process_environment(objects, worker, secrets=secrets, read_only=read_only, scratch=scratch,
                                          settings=settings)
        # `api` gets --host 127.0.0.1 --port <free> from the factory: loopback here, 0.0.0.0:8000 in the pod.
        api_process = factory.start(container(api)["args"][0], env=api_env, args=container(api)["args"][1:])
        worker_process = factory.start(container(worker)["args"][0], env=worker_env, args=container(worker)["args"][1:],
                                       wait_ready=False)
        assert httpx.get(f"{api_process.base_url}/readyz", timeout=5).json()["status"] == "ready"
        assert httpx.get(f"{api_process.base_url}/livez", timeout=5).status_code == 200
        _wait_for(f"http://127.0.0.1:{api_env['SEAWALL_METRICS_PORT']}/metrics", api_process)
        _wait_for(f"http://127.0.0.1:{worker_env['SEAWALL_METRICS_PORT']}/metrics", worker_process)
        deadline = time.monotonic() + STARTUP_SECONDS
        while "jobs.broker_connected" not in worker_process.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "jobs.broker_connected" in worker_process.log(), worker_process.log()
        _stop_within(worker_process, worker)
        _stop_within(api_process, api)
    finally:
        factory.close()
        read_only.chmod(stat.S_IRWXU)
