"""The signed `Seawall-User` header Seawall adds to forwarded requests so the legacy app can trust
Seawall's authentication. STUB (issue 16, auth helper)."""

from __future__ import annotations

from starlette.types import Scope

from seawall.accounts.session_cache import SessionCache
from seawall.config import Settings
from seawall.db import Database
from seawall.kit.clock import Clock

# Headers a client may never send through the bridge (stripped from every forwarded request).
RESERVED_HEADERS: frozenset[bytes] = frozenset()  # STUB


class ForwardedIdentity:
    @classmethod
    def build(cls, settings: Settings, *, database: Database, clock: Clock,
              session_cache: SessionCache) -> ForwardedIdentity | None:
        return None  # STUB

    async def headers(self, scope: Scope, request_id: str) -> list[tuple[bytes, bytes]]:
        """The headers to add for this request's Seawall user ([] without a valid Seawall session)."""
        raise NotImplementedError  # STUB
