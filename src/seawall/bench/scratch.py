"""Throwaway places for one bench run: a fresh PostgreSQL database, a fresh RabbitMQ vhost.

Runs never see each other's data: each one creates what it writes to under a random name and drops
it afterwards, also when the run fails.

A vhost is made with the management HTTP API when the broker has one (port 15672, the URL's user),
else with `rabbitmqctl` when the broker is on this host; failing both, the run uses the URL's own
vhost with queue names of its own (`broker_queue_prefix`) and deletes those queues afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import asyncpg
import httpx
from sqlalchemy.engine import make_url

MANAGEMENT_PORT = 15672
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def random_suffix() -> str:
    return secrets.token_hex(5)


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy `postgresql+asyncpg://` URL as the plain DSN asyncpg takes."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def admin_execute(server_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server of `server_url`, any PostgreSQL spelling."""
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def drop_database(server_url: str, name: str) -> None:
    await admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_postgres_database(server_url: str, *, label: str) -> AsyncIterator[str]:
    """Create `seawall_bench_<label>_<random>` on the server of `server_url`; yield its URL (same
    scheme as given); drop it (with FORCE) on the way out."""
    name = f"seawall_bench_{label}_{random_suffix()}"
    await admin_execute(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        await drop_database(server_url, name)


@dataclass(frozen=True)
class BrokerPlace:
    """Where one run's messages live: `url` (its vhost) and `queue_prefix` (for `broker_queue_prefix`)."""

    url: str
    queue_prefix: str
    fresh_vhost: bool


async def _management(method: str, url: str, path: str, body: dict[str, str] | None = None) -> bool:
    parts = urlsplit(url)
    base = f"http://{parts.hostname}:{MANAGEMENT_PORT}/api"
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    try:
        async with httpx.AsyncClient(auth=auth, timeout=10) as client:
            response = await client.request(method, base + path, json=body)
    except httpx.HTTPError:
        return False
    return response.is_success


async def _rabbitmqctl(*args: str) -> bool:
    try:
        process = await asyncio.create_subprocess_exec(
            "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        return await asyncio.wait_for(process.wait(), 120) == 0
    except (OSError, TimeoutError):
        return False


class BrokerUnreachableError(ConnectionError):
    """The broker a run asked for cannot be reached (the message names the URL without its password);
    the commands print it as one line."""


async def _require_broker(url: str) -> None:
    import aio_pika

    from seawall.kit.urls import redacted_url

    try:
        connection = await aio_pika.connect(url, timeout=10)
    except Exception as exc:
        raise BrokerUnreachableError(f"the broker at {redacted_url(url)} cannot be reached: "
                                     f"{type(exc).__name__}: {exc}") from None
    await connection.close()


async def _create_vhost(url: str, vhost: str) -> str | None:
    """How the vhost was made ("management" or "rabbitmqctl"), or None when it could not be."""
    user = unquote(urlsplit(url).username or "guest")
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    if await _management("PUT", url, f"/vhosts/{quote(vhost, safe='')}", {}):
        if await _management("PUT", url, f"/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", everything):
            return "management"
    if urlsplit(url).hostname in LOOPBACK_HOSTS and shutil.which("rabbitmqctl"):
        if await _rabbitmqctl("add_vhost", vhost) and await _rabbitmqctl(
                "set_permissions", "-p", vhost, user, ".*", ".*", ".*"):
            return "rabbitmqctl"
    return None


async def _delete_vhost(url: str, vhost: str, how: str) -> None:
    if how == "management":
        await _management("DELETE", url, f"/vhosts/{quote(vhost, safe='')}")
    else:
        await _rabbitmqctl("delete_vhost", vhost)


async def _delete_queues(url: str, queue_prefix: str, queues: list[str]) -> None:
    import aio_pika

    from seawall.config import Settings
    from seawall.jobs.transport import topology

    settings = Settings(broker_url=url, broker_queue_prefix=queue_prefix)
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        for queue in queues:
            for name in (topology.queue_name(settings, queue), topology.dead_letter_queue_name(settings, queue)):
                await channel.queue_delete(name)
        await channel.exchange_delete(topology.dead_letter_exchange_name(settings))
    finally:
        await connection.close()


@asynccontextmanager
async def fresh_broker_place(url: str, *, queues: list[str]) -> AsyncIterator[BrokerPlace]:
    """A fresh vhost on the broker of `url` (deleted afterwards) or, failing that, fresh queue names in
    the URL's vhost (those queues deleted afterwards). Raises `BrokerUnreachableError` (one line) when
    no AMQP connection can be opened to the place: a run that asked for the broker must not quietly
    fall back to the table transport."""
    await _require_broker(url)
    suffix = random_suffix()
    vhost = f"seawall-bench-{suffix}"
    how = await _create_vhost(url, vhost)
    if how is not None:
        place = BrokerPlace(url=urlunsplit(urlsplit(url)._replace(path=f"/{quote(vhost, safe='')}")),
                            queue_prefix="seawall.", fresh_vhost=True)
    else:
        place = BrokerPlace(url=url, queue_prefix=f"seawall-bench-{suffix}.", fresh_vhost=False)
    try:
        yield place
    finally:
        if how is not None:
            await _delete_vhost(url, vhost, how)
        else:
            try:
                await _delete_queues(url, place.queue_prefix, queues)
            except Exception:  # cleanup only; never hide the run's own outcome
                pass
