"""Private, restartable servers for `seawall chaos --infra` (`seawall.chaos.infra.PrivateServers`).

Promises: each server starts on a free loopback port and takes a connection; a restart is a real
outage (a connection made before it is dropped) after which a new connection works; committed
PostgreSQL rows and a confirmed message on a durable RabbitMQ quorum queue survive a restart, fast
or crash (`kill`); Redis loses its keys (no persistence, as documented); `stop` leaves no process,
no directory and no listener behind, is idempotent, and also runs when the owning process gets
SIGTERM. The machine's shared servers are never touched: every server here is private.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from seawall.chaos import infra_servers
from seawall.chaos.infra import InfraError, PrivateServers
from tests.support.server import REPO_ROOT

pytestmark = pytest.mark.timeout(240)


def _find_redis() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise InfraError("redis-server not found")
    return found


def _require(server: str) -> None:
    """Skip (fail with CI=true) when `server`'s binaries are not installed."""
    try:
        {"postgres": infra_servers.find_postgres_bin, "rabbitmq": infra_servers._find_rabbitmq,
         "redis": _find_redis}[server]()
    except InfraError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{error} (required when CI=true)")
        pytest.skip(str(error))


def _alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def servers_root(tmp_path: Path) -> Path:
    return tmp_path / "infra"


def _assert_nothing_left(servers: PrivateServers, pids: list[int], ports: list[int], dirs: list[Path]) -> None:
    servers.stop()
    servers.stop()  # idempotent
    assert [pid for pid in pids if _alive(pid)] == []
    assert [port for port in ports if _listening(port)] == []
    assert [path for path in dirs if path.exists()] == []
    assert list(servers.root.iterdir()) == []


def test_postgres_restart_drops_connections_and_keeps_committed_rows(servers_root: Path) -> None:
    _require("postgres")
    import asyncpg

    servers = PrivateServers(servers_root, redis=False, rabbitmq=False)
    servers.start()
    try:
        server = servers._servers["postgres"]
        assert isinstance(server, infra_servers.PostgresServer)
        assert servers.database_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
        assert servers.redis_url is None and servers.broker_url is None
        dsn = servers.database_url.replace("+asyncpg", "")
        assert server.port != 5432
        pid = server._postmaster_pid()
        assert pid is not None

        async def scenario() -> list[int]:
            seen: list[int] = []
            setup = await asyncpg.connect(dsn, timeout=10)
            assert await setup.fetchval("SHOW fsync") == "on"
            await setup.execute("CREATE TABLE survivors (id int PRIMARY KEY)")
            await setup.close()
            for number, mode in enumerate(("fast", "kill"), start=1):
                before = await asyncpg.connect(dsn, timeout=10)
                await before.execute("INSERT INTO survivors VALUES ($1)", number)  # autocommit: committed
                unreachable = await asyncio.to_thread(servers.restart, "postgres", down_seconds=0.2, mode=mode)
                assert unreachable >= 0.2
                with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                    await before.fetchval("SELECT 1")
                after = await asyncpg.connect(dsn, timeout=10)
                seen = sorted(row["id"] for row in await after.fetch("SELECT id FROM survivors"))
                await after.close()
                before.terminate()
            return seen

        assert asyncio.run(scenario()) == [1, 2]
        assert len(servers.restart_times["postgres"]) == 2
        _assert_nothing_left(servers, [pid, server._postmaster_pid() or pid], [server.port], [server.home, server.data])
    finally:
        servers.stop()


def _redis_ping(port: int, connection: socket.socket | None = None) -> bytes:
    sock = connection or socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(b"PING\r\n")
        return sock.recv(16)
    finally:
        if connection is None:
            sock.close()


def test_redis_restart_drops_connections_and_loses_keys(servers_root: Path) -> None:
    _require("redis")
    import redis

    servers = PrivateServers(servers_root, postgres=False, rabbitmq=False)
    servers.start()
    try:
        server = servers._servers["redis"]
        assert isinstance(server, infra_servers.RedisServer) and server.process is not None
        assert servers.redis_url is not None and server.port != 6379
        pids = [server.process.pid]
        for mode in ("fast", "kill"):
            client = redis.Redis.from_url(servers.redis_url, socket_timeout=5)
            client.set("seawall:chaos:key", "1")
            held = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            assert _redis_ping(server.port, held) == b"+PONG\r\n"
            assert servers.restart("redis", down_seconds=0.2, mode=mode) >= 0.2
            assert _redis_ping(server.port, held) in (b"",)  # the old connection is gone (EOF)
            held.close()
            fresh = redis.Redis.from_url(servers.redis_url, socket_timeout=5)
            assert fresh.ping() is True
            assert fresh.get("seawall:chaos:key") is None  # no persistence: a restart loses every key
            fresh.close()
            client.close()
            assert server.process is not None
            pids.append(server.process.pid)
        _assert_nothing_left(servers, pids, [server.port], [server.directory])
    finally:
        servers.stop()


def test_rabbitmq_restart_keeps_confirmed_messages_on_a_quorum_queue(servers_root: Path) -> None:
    _require("rabbitmq")
    import aio_pika
    import aiormq

    servers = PrivateServers(servers_root, postgres=False, redis=False)
    servers.start()
    try:
        server = servers._servers["rabbitmq"]
        assert isinstance(server, infra_servers.RabbitMQServer)
        assert server.process is not None and server.epmd_process is not None
        assert servers.broker_url is not None and server.port != 5672
        url = servers.broker_url
        queue_name = f"chaos-{uuid.uuid4().hex[:8]}"
        pids = [server.process.pid, server.epmd_process.pid]

        async def publish(body: bytes) -> aio_pika.abc.AbstractConnection:
            connection = await aio_pika.connect(url, timeout=15)
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
            await channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue_name)
            return connection

        async def bodies() -> list[bytes]:
            connection = await aio_pika.connect(url, timeout=15)
            try:
                channel = await connection.channel()
                queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
                found = []
                while (message := await queue.get(no_ack=False, fail=False, timeout=15)) is not None:  # left unacked
                    found.append(message.body)
                return sorted(found)
            finally:
                await connection.close()

        async def scenario() -> None:
            for body, mode in ((b"one", "fast"), (b"two", "kill")):
                before = await publish(body)
                await asyncio.to_thread(servers.restart, "rabbitmq", down_seconds=0.2, mode=mode)
                with pytest.raises((aiormq.exceptions.AMQPError, RuntimeError, ConnectionError)):
                    await before.channel()  # the connection made before the restart is gone
                await before.close()
                assert server.process is not None
                pids.append(server.process.pid)
            assert await bodies() == [b"one", b"two"]

        asyncio.run(scenario())
        assert len(servers.restart_times["rabbitmq"]) == 2
        _assert_nothing_left(servers, pids, [server.port, server.epmd_port], [server.directory])
    finally:
        servers.stop()


def test_a_missing_binary_is_one_clear_error(servers_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra_servers.shutil, "which", lambda _name: None)
    with pytest.raises(InfraError, match="redis-server not found"):
        PrivateServers(servers_root, postgres=False, rabbitmq=False).start()
    assert list(servers_root.iterdir()) == []  # what start made is removed


@pytest.fixture
def owner_process(servers_root: Path) -> Iterator[subprocess.Popen[str]]:
    script = ("import sys, time, pathlib\n"
              "from seawall.chaos.infra import PrivateServers\n"
              "servers = PrivateServers(pathlib.Path(sys.argv[1]), postgres=False, rabbitmq=False)\n"
              "servers.start()\n"
              "print(servers._servers['redis'].process.pid, servers.redis_url.rsplit(':', 1)[1].split('/')[0], "
              "flush=True)\n"
              "time.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", script, str(servers_root)], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_sigterm_to_the_owner_stops_its_servers(servers_root: Path, owner_process: subprocess.Popen[str]) -> None:
    _require("redis")
    assert owner_process.stdout is not None
    pid_text, port_text = owner_process.stdout.readline().split()
    assert _alive(int(pid_text)) and _listening(int(port_text))
    owner_process.send_signal(signal.SIGTERM)
    assert owner_process.wait(timeout=30) == -signal.SIGTERM  # the default action, after the cleanup
    assert not _alive(int(pid_text)) and not _listening(int(port_text))
    assert list(servers_root.iterdir()) == []
