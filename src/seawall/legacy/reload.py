"""Reloading the route table without a restart, per serving process: SIGHUP, and (when
`SEAWALL_LEGACY_ROUTES_RELOAD_SECONDS` > 0) a poll of the file's (mtime, size, inode).

`RouteReloader.start()` installs the SIGHUP handler on the running loop (`loop.add_signal_handler`;
only in the main thread, and only when asked: the uvicorn factories) and starts the poll; `stop()`
removes the handler and cancels the poll (at shutdown). A refused file keeps the table in use and logs
one `legacy.routes_refused` line (`RouteTableHolder.reload`); the poll reports a refused version once,
not at every tick. Under `uvicorn --workers N` the master restarts its workers on SIGHUP: send the
signal to each worker's pid, or call `POST /admin/legacy/routes/reload` (docs/legacy-bridge.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading

import structlog

from seawall.legacy.routes import RouteTableError, RouteTableHolder

log = structlog.get_logger("seawall.legacy.reload")


class RouteReloader:
    def __init__(self, holder: RouteTableHolder, *, poll_seconds: float = 0.0) -> None:
        self.holder = holder
        self.poll_seconds = poll_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll: asyncio.Task[None] | None = None

    def start(self, *, signals: bool) -> None:
        """Install SIGHUP (when `signals` and in the main thread) and start the poll (when configured)."""
        loop = asyncio.get_running_loop()
        if signals and threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, self.reload_now, "sighup")
            self._loop = loop
        if self.poll_seconds > 0 and self.holder.path is not None:
            self._poll = loop.create_task(self._watch(), name="seawall-legacy-routes-poll")

    def reload_now(self, cause: str = "call") -> None:
        """Reload from the file; a refused file is logged (by the holder) and the table in use kept.
        `cause` (sighup, file_changed) goes on the log line."""
        log.info("legacy.routes_reload", cause=cause)
        with contextlib.suppress(RouteTableError):
            self.holder.reload()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            if self.holder.changed():
                self.reload_now("file_changed")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
            self._poll = None
