"""The broker side of one worker: a connection kept up in the background, the relay, the consumer.

`start()` returns at once. A background task connects (one attempt per
`broker_reconnect_interval_seconds`, logging `jobs.broker_unavailable` each time it fails), then
consumes and runs the relay; after that first connection, aio-pika's robust connection reconnects
by itself. `available` says whether deliveries can flow right now. `polling` says the worker should
claim straight from the jobs table instead: once the first connection attempt has failed (so a
reachable broker carries all the work from the start) and whenever the broker is away. A broker
outage therefore slows nothing down and loses nothing (the rows claimed meanwhile are just never
published).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

from seawall.config import Settings, reveal
from seawall.db import Database
from seawall.jobs.transport.connection import BrokerLink
from seawall.jobs.transport.consumer import Consumer
from seawall.jobs.transport.relay import Relay
from seawall.kit.clock import Clock
from seawall.kit.urls import redacted_url

log = structlog.get_logger("seawall.jobs.transport")


class BrokerTransport:
    def __init__(self, *, database: Database, settings: Settings, queues: list[str], kinds: list[str],
                 clock: Clock, prefetch: Mapping[str, int], on_delivery: Callable[[], None]) -> None:
        self.settings = settings
        name = f"seawall-worker {socket.gethostname()}:{os.getpid()}"
        self.link = BrokerLink(settings, queues, name=name)
        self.relay = Relay(self.link, database=database, settings=settings, queues=queues, kinds=kinds,
                           clock=clock)
        self.consumer = Consumer(self.link, prefetch=prefetch, on_delivery=on_delivery)
        self._stopping = asyncio.Event()
        self._ready = False
        self._first_attempt_done = False
        self._task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self._ready and self.link.available

    @property
    def polling(self) -> bool:
        """True when the worker must claim from the table: the broker is away (not while first connecting)."""
        return self._first_attempt_done and not self.available

    def wake(self) -> None:
        self.relay.wake()

    # -- the production loop's side ------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="seawall-broker-transport")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.link.connect()
                await self.consumer.start()
                break
            except Exception as exc:
                log.warning("jobs.broker_unavailable", url=redacted_url(reveal(self.settings.broker_url) or ""),
                            error=f"{type(exc).__name__}: {exc}",
                            retry_in_seconds=self.settings.broker_reconnect_interval_seconds)
                await self.link.close()
            self._first_attempt_done = True
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.broker_reconnect_interval_seconds)
            except TimeoutError:
                pass
        if self._stopping.is_set():
            return
        self._ready = self._first_attempt_done = True
        log.info("jobs.broker_connected", url=redacted_url(reveal(self.settings.broker_url) or ""),
                 queues=self.link.queues)
        await self.relay.run(self._stopping)

    async def stop_intake(self) -> None:
        """Stop the relay and consuming; deliveries not yet taken go back to the queue. Acks still work."""
        self._stopping.set()
        self.relay.wake()
        if self._task is not None:
            if not self._ready:  # still connecting: do not wait out the connect timeout
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._ready:
            await self.consumer.stop()

    # -- one-shot runs (`Worker.run_until_idle`) ------------------------------------------------

    async def open(self) -> bool:
        """Connect once, without consuming (deliveries are fetched); False if the broker is unreachable."""
        try:
            await self.link.connect()
            await self.consumer.open()
        except Exception as exc:
            log.warning("jobs.broker_unavailable", url=redacted_url(reveal(self.settings.broker_url) or ""),
                        error=f"{type(exc).__name__}: {exc}")
            await self.link.close()
            return False
        self._ready = True
        return True

    async def aclose(self) -> None:
        """After the drain: the connection closes; the broker requeues anything still unacked."""
        if not self._stopping.is_set():
            await self.stop_intake()
        self._ready = False
        await self.link.close()
