"""The legacy session accepted during the move: a cookie introspected at the upstream, cached briefly.
STUB (issue 16, auth helper)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seawall.config import Settings
from seawall.db import Database
from seawall.kit.clock import Clock

if TYPE_CHECKING:
    from seawall.legacy.proxy import LegacyProxy


class LegacySessions:
    @classmethod
    def build(cls, settings: Settings, *, proxy: LegacyProxy, database: Database,
              clock: Clock) -> LegacySessions | None:
        return None  # STUB

    async def aclose(self) -> None:
        return None
