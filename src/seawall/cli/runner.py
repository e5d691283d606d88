"""The one async helper every command uses: settings, logging, runtime, and a clean shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from seawall.config import Settings
from seawall.observability.logging import configure_logging
from seawall.runtime import Runtime

T = TypeVar("T")


def load_settings() -> Settings:
    settings = Settings()
    configure_logging(level=settings.log_level, json_output=settings.log_json)
    return settings


def run_with_runtime(operation: Callable[[Runtime], Awaitable[T]], *, settings: Settings | None = None) -> T:
    settings = settings or load_settings()

    async def main() -> T:
        runtime = Runtime.build(settings)
        try:
            return await operation(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())
