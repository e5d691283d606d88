"""The one async helper every command uses: settings, logging, runtime, and a clean shutdown.

Commands run on uvloop (as `api` and `serve` do through uvicorn): `asyncio.Runner` with uvloop's loop
factory, which Python 3.11 already supports (`asyncio.run(loop_factory=...)` needs 3.12).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvloop

from seawall.chaos import crash_points
from seawall.config import Settings
from seawall.db import first_contact
from seawall.runtime import Runtime, configure_logging_for

T = TypeVar("T")


def load_settings() -> Settings:
    settings = Settings()
    configure_logging_for(settings)
    crash_points.load_environment()  # chaos runs only: off unless SEAWALL_CRASH_POINTS is set
    return settings


def run_with_runtime(operation: Callable[[Runtime], Awaitable[T]], *, settings: Settings | None = None,
                     one_shot: bool = True) -> T:
    """Run `operation` on a fresh runtime on uvloop. A `one_shot` command (all but a worker's long run,
    whose own start-up check is `first_contact`) that cannot reach its database fails with one line
    (`DatabaseUnreachableError`) instead of a driver's traceback."""
    settings = settings or load_settings()

    async def main() -> T:
        runtime = Runtime.build(settings)
        try:
            if not one_shot:
                return await operation(runtime)
            async with first_contact(settings):
                return await operation(runtime)
        finally:
            await runtime.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
