"""One robust AMQP connection per process role, with a publishing and a consuming channel.

`aio_pika.connect_robust` reconnects by itself once it has connected, re-opening the channels and
re-declaring the queues and consumers it had. The first connection is this module's to make: one
attempt per `connect()` (bounded by `broker_connect_timeout_seconds`), retried by the caller. The
publishing channel has publisher confirms on and `on_return_raises`, so a publish returns only once
the broker has the message, and an unroutable `mandatory` publish raises instead of vanishing.
Every call that waits for the broker is bounded (`rpc_timeout`), so a stalled broker can delay a
worker's start or drain by seconds, never hang it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aio_pika
import structlog
from aio_pika.abc import AbstractQueue, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import AMQPError

from seawall.config import Settings, reveal
from seawall.jobs.transport import topology

log = structlog.get_logger("seawall.jobs.transport")


async def connect(settings: Settings, *, name: str) -> AbstractRobustConnection:
    """One connection attempt; raises if the broker cannot be reached in time."""
    assert settings.broker_url is not None
    return await aio_pika.connect_robust(
        reveal(settings.broker_url),
        timeout=settings.broker_connect_timeout_seconds,
        reconnect_interval=settings.broker_reconnect_interval_seconds,
        client_properties={"connection_name": name},
    )


class BrokerLink:
    def __init__(self, settings: Settings, queues: list[str], *, name: str) -> None:
        self.settings = settings
        self.queues = queues
        self.name = name
        self.rpc_timeout = settings.broker_connect_timeout_seconds  # any single request-reply with the broker
        self.connection: AbstractRobustConnection | None = None
        self.publisher: AbstractRobustChannel | None = None

    @property
    def available(self) -> bool:
        """Connected right now (false before the first connection and while reconnecting)."""
        connection = self.connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def connect(self) -> None:
        """Connect, open the publishing channel and declare the topology; raise on any failure."""
        connection = await connect(self.settings, name=self.name)
        try:
            async with asyncio.timeout(self.rpc_timeout * (2 + 4 * len(self.queues))):
                publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
                await topology.declare(publisher, self.settings, self.queues)
        except BaseException:
            await self._close(connection)
            raise
        self.connection, self.publisher = connection, publisher

    async def redeclare(self) -> None:
        """Declare the topology again (after a return: someone deleted a queue)."""
        if self.publisher is not None:
            async with asyncio.timeout(self.rpc_timeout * (1 + 4 * len(self.queues))):
                await topology.declare(self.publisher, self.settings, self.queues)

    async def consuming_channels(self, *, prefetch: Mapping[str, int]) -> dict[str, AbstractQueue]:
        """One channel per queue for consuming, each with `basic.qos(prefetch[queue])` (per consumer:
        quorum queues refuse a channel-wide prefetch), and the queue declared on it (`connect`
        declared the rest of the topology on the publishing channel). A robust channel sets its
        prefetch again when it reopens after a reconnect."""
        assert self.connection is not None, "connect() first"
        declared: dict[str, AbstractQueue] = {}
        async with asyncio.timeout(self.rpc_timeout * 3 * max(1, len(prefetch))):
            for queue, count in prefetch.items():
                channel = await self.connection.channel(publisher_confirms=False)
                await channel.set_qos(prefetch_count=count)
                declared.update(await topology.declare_work_queues(channel, self.settings, [queue]))
        return declared

    async def close(self) -> None:
        connection, self.connection, self.publisher = self.connection, None, None
        if connection is not None:
            await self._close(connection)

    async def _close(self, connection: AbstractRobustConnection) -> None:
        if connection.is_closed:
            return
        try:
            await asyncio.wait_for(connection.close(), self.rpc_timeout)
        except (TimeoutError, OSError, AMQPError) as exc:  # gone already: nothing to close
            log.warning("jobs.broker_close_failed", error=f"{type(exc).__name__}: {exc}")
