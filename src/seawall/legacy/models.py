"""`legacy_shadow_comparisons`: one row per shadow call of a shadowed route and how the answers compared
(`legacy.store` reads and writes it; purged after `SEAWALL_LEGACY_SHADOW_RETENTION_DAYS`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import BigIntPK, UTCDateTime

PATH_MAX = 512  # longer request paths are cut (the report's label is the route name, not the path)


class ShadowComparison(Base):
    __tablename__ = "legacy_shadow_comparisons"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    route: Mapped[str] = mapped_column(String(256))  # `Route.name`, e.g. "POST /v1/accounts"
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(PATH_MAX))  # without the query (it may carry secrets)
    result: Mapped[str] = mapped_column(String(32))  # `compare.Result`
    legacy_status: Mapped[int] = mapped_column(Integer)
    seawall_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: error, timeout, dropped
    # RFC 6902 operations legacy → Seawall, cut to SEAWALL_LEGACY_SHADOW_PATCH_MAX_BYTES (`store`); or None.
    patch: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    legacy_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    seawall_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_legacy_shadow_comparisons_route_created_at", "route", "created_at"),  # the report's window
        Index("ix_legacy_shadow_comparisons_created_at", "created_at"),  # retention, oldest first
    )
