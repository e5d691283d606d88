"""Redis and RabbitMQ for the `full` test backend (PostgreSQL + RabbitMQ + Redis).

Isolation: each test run gets its own RabbitMQ vhost (made with `rabbitmqctl`, deleted at the end),
each test its own queue-name prefix inside it and its own Redis key prefix. With `CI=true` both
servers are required; elsewhere the `full` variants skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid

import pytest

from tests.support.databases import _run_in_thread

REDIS_URL = os.environ.get("SEAWALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_HOST, RABBITMQ_PORT = "127.0.0.1", 5672
_reachable: dict[tuple[str, int], bool] = {}


def _port_open(host: str, port: int) -> bool:
    if (host, port) not in _reachable:
        try:
            with socket.create_connection((host, port), timeout=2):
                _reachable[(host, port)] = True
        except OSError:
            _reachable[(host, port)] = False
    return _reachable[(host, port)]


def _require(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required when CI=true and is not reachable at {host}:{port}")
    pytest.skip(f"{name} not reachable at {host}:{port} (start it, or run with CI=true to require it)")


def require_command(name: str, install_hint: str) -> str:
    """The path of the program `name` on PATH. Missing: a failure with `CI=true` (CI installs it), a
    skip elsewhere; both say how to get it (`install_hint`)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required when CI=true and is not on PATH ({install_hint})")
        pytest.skip(f"{name} not on PATH ({install_hint}; or run with CI=true to require it)")
    return path


def require_redis() -> None:
    _require("Redis", "127.0.0.1", 6379)


def require_rabbitmq() -> None:
    _require("RabbitMQ", RABBITMQ_HOST, RABBITMQ_PORT)
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is needed to make a vhost for this test run")


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def create_vhost() -> str:
    name = f"seawall-test-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return name


def delete_vhost(name: str) -> None:
    try:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:  # the broker finishes it on its own; never fail a run over cleanup
        pass


def delete_queues(url: str, queue_prefix: str) -> None:
    """Delete one test's quorum queues (work and dead-letter) and its dead-letter exchange.

    Each quorum queue is a Raft group with its own processes: a run that left every test's queues
    alive until the vhost goes would keep thousands of them on one node."""
    import aio_pika

    from seawall.config import Settings
    from seawall.jobs.transport import topology

    settings = Settings(broker_url=url, broker_queue_prefix=queue_prefix)

    async def delete() -> None:
        connection = await aio_pika.connect(url, timeout=10)
        try:
            channel = await connection.channel()
            for queue in settings.queue_names:
                for name in (topology.queue_name(settings, queue), topology.dead_letter_queue_name(settings, queue)):
                    await channel.queue_delete(name)
            await channel.exchange_delete(topology.dead_letter_exchange_name(settings))
        finally:
            await connection.close()

    try:
        _run_in_thread(delete)
    except Exception:  # cleanup only: the run's vhost is deleted at the end anyway
        pass


def broker_url(vhost: str) -> str:
    return f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"


def unique_prefix(kind: str) -> str:
    return f"seawall-test-{kind}-{uuid.uuid4().hex[:10]}"


def delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
