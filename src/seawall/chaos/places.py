"""Where a chaos run keeps its state, made fresh for the run and removed after it.

- embedded (`--embedded`): the SQLite file in the run's directory; the jobs table is the transport.
- server mode on the machine's servers (the default): a new PostgreSQL database on the given server
  (`bench.scratch.fresh_postgres_database`, dropped with FORCE after), a new RabbitMQ vhost
  (`bench.scratch.fresh_broker_place`, deleted after) and a random Redis key prefix (its keys
  deleted after). Those servers are never restarted.
- server mode on private servers (`--infra`): `chaos.infra.PrivateServers`, PostgreSQL, Redis and
  RabbitMQ started for this run alone under its directory, so they can be restarted under load; they
  are stopped (and their data thrown away) after it.

`Place.env` holds the `SEAWALL_*` settings every Seawall process of the run is given.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from seawall.bench.databases import postgres_server_url
from seawall.bench.scratch import fresh_broker_place, fresh_postgres_database
from seawall.config import Settings
from seawall.db import Database

if TYPE_CHECKING:
    from seawall.chaos.infra import PrivateServers

RUN_SECRET = "chaos-secret-key-not-for-production"  # every process of the run shares it; the data is thrown away


@dataclass
class Place:
    mode: str  # "embedded", "server" (the machine's servers, scratch names) or "private" (--infra)
    var_dir: Path
    database_url: str | None = None  # None: the embedded SQLite file in var_dir
    env: dict[str, str] = field(default_factory=dict)
    servers: PrivateServers | None = None

    def settings(self) -> Settings:
        """Settings for this process's own reads of the run's database."""
        return Settings(var_dir=self.var_dir, database_url=self.database_url, secret_key=RUN_SECRET,
                        log_level="WARNING")


async def _migrate(place: Place) -> None:
    database = Database(place.settings())
    try:
        await database.migrate()
    finally:
        await database.dispose()


async def _delete_redis_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=5)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start:start + 500])
    finally:
        await client.aclose()


@asynccontextmanager
async def chaos_place(*, mode: str, var_dir: Path, database_url: str, redis_url: str,
                      broker_url: str) -> AsyncIterator[Place]:
    """The run's place (see the module docstring), migrated to the newest schema; removed on the way out.
    `database_url`, `redis_url`, `broker_url`: the machine's servers, used in "server" mode only."""
    var_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        place = Place(mode=mode, var_dir=var_dir)
        env = {"SEAWALL_VAR_DIR": str(var_dir), "SEAWALL_SECRET_KEY": RUN_SECRET}
        if mode == "server":
            server_url = postgres_server_url(database_url)
            place.database_url = await stack.enter_async_context(fresh_postgres_database(server_url, label="chaos"))
            broker = await stack.enter_async_context(fresh_broker_place(broker_url, queues=Settings().queue_names))
            prefix = f"seawall-chaos-{secrets.token_hex(5)}:"
            stack.push_async_callback(_delete_redis_keys, redis_url, prefix)
            env.update({"SEAWALL_REDIS_URL": redis_url, "SEAWALL_REDIS_KEY_PREFIX": prefix,
                        "SEAWALL_BROKER_URL": broker.url, "SEAWALL_BROKER_QUEUE_PREFIX": broker.queue_prefix})
        elif mode == "private":
            from seawall.chaos.infra import PrivateServers

            servers = PrivateServers(var_dir / "servers")
            servers.start()  # in the main thread: its signal handlers stop the servers if the run is interrupted
            stack.callback(servers.stop)
            place.servers = servers
            place.database_url = postgres_server_url(servers.database_url)
            env.update({"SEAWALL_REDIS_URL": servers.redis_url or "", "SEAWALL_BROKER_URL": servers.broker_url or ""})
        elif mode != "embedded":
            raise ValueError(f"unknown mode {mode!r}")
        if place.database_url is not None:
            env["SEAWALL_DATABASE_URL"] = place.database_url
        place.env = env
        await _migrate(place)
        yield place
