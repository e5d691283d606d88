"""An ASGI app served by uvicorn inside the running event loop, on a loopback socket it binds itself.

Shared by the in-process sandbox (`SandboxServer`) and the webhook receiver: uvicorn with h11 (so a
dropped connection looks the same everywhere), the embedding process's signal handlers left alone,
and a prompt stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn


class _DroppedResponseFilter(logging.Filter):
    """Injected dropped responses are the point, not server errors: keep them out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


_DROPPED_RESPONSE_FILTER = _DroppedResponseFilter()


class _EmbeddedUvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding process owns its signals


def uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_DROPPED_RESPONSE_FILTER)
    return uvicorn.Config(app, host=host, port=port, http="h11", lifespan="off", log_config=None,
                          access_log=False, timeout_graceful_shutdown=2, timeout_keep_alive=5)


class EmbeddedHttpServer:
    def __init__(self, app: Any, *, host: str, port: int, name: str) -> None:
        self.app = app
        self.host = host
        self.name = name
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError(f"the {self.name} is not running")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> None:
        """Bind the socket (so the port is known) without serving yet."""
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (no 40 ms Nagle stalls).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._socket = sock

    async def serve(self) -> None:
        """Start serving on the bound socket; returns once uvicorn has started."""
        if self._socket is None:
            self.bind()
        assert self._socket is not None
        self._server = _EmbeddedUvicorn(uvicorn_config(self.app, host=self.host, port=self.port))
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name=f"seawall-{self.name}")
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError(f"the {self.name} stopped during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        try:
            if self._server is not None and self._task is not None:
                self._server.should_exit = True
                await self._task
        finally:
            self.close_socket()
            self._server = self._task = None

    def close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
