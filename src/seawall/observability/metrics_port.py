"""The metrics port (`SEAWALL_METRICS_PORT`): a scrape target on its own port, without authentication.

`MetricsPort.start(settings)` serves `GET /metrics` (any path answers the same) on
`settings.metrics_host:metrics_port` with prometheus-client's threaded WSGI server (content negotiation
and gzip included), in daemon threads of the process that calls it: a `seawall worker`, the one
process of `seawall api|serve --workers 1`, or the parent of N serving processes (which renders all N
through the multiprocess directory). The queue statistics query runs on an event loop of the port's
own, in its own thread, with its own database engine (one connection at most): a scrape neither waits
for a busy serving loop nor depends on one existing. Bind it to loopback or a private interface: it
answers anyone who can reach it.
"""

from __future__ import annotations

import asyncio
import threading
from wsgiref.simple_server import WSGIServer

import structlog
from prometheus_client import start_http_server

from seawall.config import SettingError, Settings
from seawall.db import Database
from seawall.observability.exposition import scrape_registry
from seawall.observability.queue_stats import QueueStats

log = structlog.get_logger("seawall.metrics")


class MetricsPort:
    def __init__(self, server: WSGIServer, thread: threading.Thread, loop: asyncio.AbstractEventLoop,
                 loop_thread: threading.Thread, database: Database) -> None:
        self.server = server
        self._thread = thread
        self._loop = loop
        self._loop_thread = loop_thread
        self._database = database

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @classmethod
    def start(cls, settings: Settings) -> MetricsPort:
        """Serve now; `SettingError` naming SEAWALL_METRICS_PORT when the port cannot be bound (in use, a
        host that is not this machine's). Call `exposition.install` first."""
        assert settings.metrics_port is not None
        loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=loop.run_forever, name="seawall-metrics-loop", daemon=True)
        loop_thread.start()
        database = Database(settings.model_copy(update={"database_pool_size": 1}))
        stats = QueueStats(database, queues=settings.queue_names, max_age_seconds=settings.metrics_queue_stats_seconds,
                           loop=loop)
        try:
            server, thread = start_http_server(settings.metrics_port, addr=settings.metrics_host,
                                               registry=scrape_registry(stats))
        except BaseException as exc:
            _stop_loop(loop, loop_thread, database)
            if isinstance(exc, OSError):
                raise SettingError("SEAWALL_METRICS_PORT", f"cannot listen on {settings.metrics_host}:"
                                   f"{settings.metrics_port} (SEAWALL_METRICS_HOST): {exc.strerror or exc}") from exc
            raise
        log.info("metrics.port_serving", host=settings.metrics_host, port=settings.metrics_port)
        return cls(server, thread, loop, loop_thread, database)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        _stop_loop(self._loop, self._loop_thread, self._database)


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, database: Database) -> None:
    try:
        asyncio.run_coroutine_threadsafe(database.dispose(), loop).result(timeout=5)
    except Exception as exc:  # closing: a pool that cannot close cleanly is only worth a line
        log.warning("metrics.port_close_failed", error=type(exc).__name__)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()
