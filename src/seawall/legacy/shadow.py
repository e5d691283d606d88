"""Shadow calls: a shadowed route run here after the upstream answered, off the request path, as a
dry run, and the two answers compared and recorded. STUB (issue 16, shadow helper)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

from seawall.config import Settings
from seawall.db import Database
from seawall.kit.clock import Clock
from seawall.legacy.routes import Route


@dataclass(frozen=True)
class ShadowRequest:
    scope: dict[str, Any]  # a copy of the request's HTTP scope (method, path, raw_path, query_string, headers, client)
    body: bytes | None  # None: larger than SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES (recorded as not compared)


@dataclass(frozen=True)
class LegacyAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes | None  # None: larger than SEAWALL_LEGACY_SHADOW_MAX_BODY_BYTES
    seconds: float  # the upstream's answer time, head to last byte


class ShadowRunner:
    def __init__(self, settings: Settings, database: Database, clock: Clock) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock

    @classmethod
    def build(cls, settings: Settings, *, database: Database, clock: Clock) -> ShadowRunner:
        return cls(settings, database, clock)

    def submit(self, app: ASGIApp, route: Route, request: ShadowRequest, legacy: LegacyAnswer) -> None:
        """Start the shadow run of `request` through `app` (Seawall's own stack) in the background and
        return at once; never raises. More than SEAWALL_LEGACY_SHADOW_MAX_CONCURRENT in flight: dropped,
        counted."""
        raise NotImplementedError  # STUB

    async def aclose(self) -> None:
        return None  # STUB
