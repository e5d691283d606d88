"""Promise: deploy/compose.yaml's Seawall services work as it describes them (issue 15, Deliver 2).

No container engine runs here, so each Seawall service is started as real local processes exactly as the
compose file and the image describe it (`local_stack`): its command after the image's entrypoint, the
image's and the service's environment, its secrets as files through `SEAWALL_*_FILE`, its replicas, in
`depends_on` order — the one-shot `migrate` run to completion, each service's health check passing
before what depends on it starts. The secret files come from deploy/compose/init-secrets.sh, except the
three URLs that say where the test's own database, RabbitMQ vhost and Redis are; the compose host names
point at CI's PostgreSQL, Redis and RabbitMQ, the sandbox's processes and a stand-in OTLP receiver.

Then a paid sign-up through one API is charged once at the sandbox's fake Stripe and its jobs are done,
Prometheus's scrape targets answer as deploy/compose/prometheus.yml scrapes them (the operator key of
scope `metrics` from the secrets), spans reach the collector's address, and SIGTERM stops every process
with exit 0 within its `stop_grace_period`.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.deploy import compose_file, image
from tests.deploy.local_stack import LocalStack, Network, Replica
from tests.deploy.otlp_receiver import OtlpReceiver
from tests.integration.accounts.wire import STRONG_PASSWORD, bearer, new_email, new_key
from tests.support.databases import create_postgres_database, drop_postgres_database, require_postgres
from tests.support.services import (
    REDIS_URL,
    broker_url,
    delete_queues,
    delete_redis_keys,
    require_rabbitmq,
    require_redis,
    unique_prefix,
)

INIT_SECRETS = compose_file.COMPOSE_DIR / "compose" / "init-secrets.sh"
PROMETHEUS_CONFIG = compose_file.COMPOSE_DIR / "compose" / "prometheus.yml"
# The backing services the test provides: {compose service: {container port: local port}}.
SERVERS = {"postgres": {5432: 5432}, "redis": {6379: 6379}, "rabbitmq": {5672: 5672}}
HEALTHY_WITHIN_SECONDS = 60.0
T = TypeVar("T")
SETTLED_WITHIN_SECONDS = 30.0


@pytest.fixture
def secret_files(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Path]]:
    """The stack's secrets as init-secrets.sh makes them, the URLs pointed at the test's own servers."""
    require_postgres()
    require_redis()
    require_rabbitmq()
    rabbitmq_vhost = request.getfixturevalue("rabbitmq_vhost")
    directory = tmp_path / "secrets"
    subprocess.run(["sh", str(INIT_SECRETS), str(directory)], check=True, capture_output=True, timeout=60)
    database_url = create_postgres_database()  # empty: the migrate service makes the schema
    (directory / "database_url").write_text(database_url + "\n")
    (directory / "redis_url").write_text(REDIS_URL + "\n")
    (directory / "broker_url").write_text(broker_url(rabbitmq_vhost) + "\n")
    compose = compose_file.load()
    try:
        yield {name: directory / compose_file.secret_file(compose, name).name for name in compose["secrets"]}
    finally:
        drop_postgres_database(database_url)


def stop_all(replicas: list[Replica]) -> dict[str, int | None]:
    """SIGTERM every process at once; {replica: exit status, None if it outlived its stop_grace_period}."""
    def stop(replica: Replica) -> int | None:
        assert replica.process is not None
        process = replica.process.process
        if process.poll() is not None:
            return process.returncode
        process.terminate()
        try:
            return process.wait(timeout=replica.stop_grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            return None

    with ThreadPoolExecutor(max_workers=len(replicas) or 1) as pool:
        return dict(zip([r.name for r in replicas], pool.map(stop, replicas), strict=True))


def scrape_targets(stack: LocalStack, secrets: dict[str, Path]) -> list[tuple[str, str, dict[str, str]]]:
    """(job, URL, headers) for each replica Prometheus's DNS discovery would find, as the configuration says."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    prometheus = compose_file.mounted_secrets(stack.compose["services"]["prometheus"])
    targets = []
    for job in config["scrape_configs"]:
        headers = {}
        if "authorization" in job:
            credentials = job["authorization"]["credentials_file"]
            assert credentials in prometheus, f"{job['job_name']}: Prometheus does not mount {credentials}"
            headers = {"Authorization": f"Bearer {secrets[prometheus[credentials]].read_text().strip()}"}
        for discovery in job.get("dns_sd_configs", []):
            for name in discovery["names"]:
                for replica in range(compose_file.replicas(stack.compose["services"][name])):
                    port = stack.network.port(name, discovery["port"], replica)
                    targets.append((job["job_name"], f"http://127.0.0.1:{port}{job.get('metrics_path', '/metrics')}",
                                    headers))
    return targets


def wait_for(check: Callable[[], T | None], what: str, timeout: float = SETTLED_WITHIN_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.2)


def start_in_order(stack: LocalStack, services: dict[str, dict[str, Any]], log_dir: Path,
                   running: list[Replica]) -> dict[str, list[Replica]]:
    """Start each service's replicas after what it depends on, as Compose does: a one-shot (no health
    check) runs to exit 0; a `service_healthy` dependency's health checks pass first. Every long-running
    replica is appended to `running` as it starts (so the caller stops it whatever happens); all are
    healthy on return."""
    by_service: dict[str, list[Replica]] = {}
    for name in compose_file.start_order(services):
        for dependency, condition in compose_file.dependencies(services[name]).items():
            if condition == "service_healthy" and dependency in by_service:
                for replica in by_service[dependency]:
                    replica.wait_healthy(HEALTHY_WITHIN_SECONDS)
        by_service[name] = stack.replicas(name)
        for replica in by_service[name]:
            process = replica.start(log_dir)
            if replica.healthcheck is None:
                status = process.process.wait(timeout=HEALTHY_WITHIN_SECONDS)
                assert status == 0, f"{replica.name} exited {status}:\n{process.log()[-4000:]}"
            else:
                running.append(replica)
    for replica in running:
        replica.wait_healthy(HEALTHY_WITHIN_SECONDS)
    return by_service


def paid_sign_up(http: httpx.Client, apis: list[str], sandbox: str) -> None:
    """Sign up for a paid plan through the first API; the charge is made once at the sandbox's Stripe,
    and the second API shows the payment settled and the user active; the receipt reaches the SMTP sink."""
    email = new_email("compose")
    signup = http.post(f"{apis[0]}/v1/signups", headers={"Idempotency-Key": new_key()}, json={
        "email": email, "password": STRONG_PASSWORD, "plan": "pro", "payment_method": "pm_card_visa"})
    assert signup.status_code == 202, signup.text
    payment_id = signup.json()["payment"]["id"]

    def charged() -> list[dict[str, Any]] | None:
        intents = http.get(f"{sandbox}/_sandbox/payments/intents", params={"seawall_payment_id": payment_id})
        found = intents.json()["data"]
        return found if any(intent["status"] == "succeeded" for intent in found) else None

    assert len(wait_for(charged, "the charge at the sandbox's Stripe")) == 1
    login = http.post(f"{apis[1]}/v1/sessions", json={"email": email, "password": STRONG_PASSWORD})
    assert login.status_code == 201, login.text
    auth = bearer(login.json()["token"])

    def settled() -> bool:
        payment = http.get(f"{apis[1]}/v1/payments/{payment_id}", headers=auth).json()
        user = http.get(f"{apis[1]}/v1/me", headers=auth).json()
        return payment["status"] == "succeeded" and user["status"] == "active"

    wait_for(settled, "the payment settled and the user active (the worker's jobs)")
    wait_for(lambda: http.get(f"{sandbox}/_sandbox/smtp/messages", params={"to": email}).json()["data"],
             "the receipt at the SMTP sink")


@pytest.fixture
def prefixes(secret_files: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """This test's own Redis key prefix and RabbitMQ queue prefix; its keys and queues are deleted after."""
    key_prefix, queue_prefix = unique_prefix("redis") + ":", unique_prefix("queue") + "."
    try:
        yield key_prefix, queue_prefix
    finally:
        delete_redis_keys(key_prefix)
        delete_queues(secret_files["broker_url"].read_text().strip(), queue_prefix)


@pytest.mark.timeout(180)
def test_the_compose_services_run_a_paid_sign_up_and_stop_cleanly(
        tmp_path: Path, secret_files: dict[str, Path], prefixes: tuple[str, str]) -> None:
    compose = compose_file.load()
    services = compose_file.seawall_services(compose)
    key_prefix, queue_prefix = prefixes
    with OtlpReceiver() as collector:
        stand_ins = {**SERVERS, "otel-collector": {4318: collector.port}}
        outside = {dependency for service in services.values() for dependency in compose_file.dependencies(service)
                   if dependency not in services}
        assert outside <= set(stand_ins), f"the test has no stand-in for {outside - set(stand_ins)}"
        stack = LocalStack(compose=compose, image=image.image_config(),
                           network=Network(services=set(compose["services"]), stand_ins=stand_ins),
                           secrets=secret_files, var_root=tmp_path / "var",
                           extra_env={"SEAWALL_REDIS_KEY_PREFIX": key_prefix,
                                      "SEAWALL_BROKER_QUEUE_PREFIX": queue_prefix})
        running: list[Replica] = []
        try:
            by_service = start_in_order(stack, services, tmp_path, running)
            assert {name: len(replicas) for name, replicas in by_service.items()} == {
                "migrate": 1, "sandbox": 1, "api": 2, "worker": 2}
            apis = [f"http://127.0.0.1:{replica.env['SEAWALL_PORT']}" for replica in by_service["api"]]
            with httpx.Client(timeout=15) as http:
                paid_sign_up(http, apis, sandbox=f"http://127.0.0.1:{stack.network.port('sandbox', 12111)}")
                for job, url, headers in scrape_targets(stack, secret_files):
                    scraped = http.get(url, headers=headers)
                    assert scraped.status_code == 200, (job, url, scraped.status_code)
                    assert "seawall_build_info" in scraped.text, (job, url)
        finally:
            statuses = stop_all(running)
        logs = {replica.name: replica.process.log()[-3000:] for replica in running if replica.process}
        assert statuses == dict.fromkeys(statuses, 0), (statuses, logs)
        # Each process flushes its spans as it stops: both roles' spans reached the collector's address.
        assert collector.saw_service("seawall-api") and collector.saw_service("seawall-worker"), (
            f"{len(collector.bodies)} OTLP requests, not from both the API and the worker")
