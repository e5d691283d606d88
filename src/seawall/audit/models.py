"""The audit log table: one row per operator call and per authentication event. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from seawall.db import Base
from seawall.kit.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_created_at_id", "created_at", "id"),
        Index("ix_audit_events_action_created_at_id", "action", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # aud_<hex>
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(64))  # e.g. auth.login_failed, operator.replay_job
    outcome: Mapped[str] = mapped_column(String(64))  # ok, or the answer's error type (forbidden, ...)
    actor_type: Mapped[str] = mapped_column(String(16))  # operator, user or anonymous
    actor: Mapped[str | None] = mapped_column(String(64))  # the operator key's name or the user id
    scope: Mapped[str | None] = mapped_column(String(16))  # the operator key's scope
    route: Mapped[str | None] = mapped_column(String(200))  # "POST /admin/jobs/{job_id}/replay"
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))  # as the rate limiter sees it (IPv6: /64)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)  # never a secret: no password, token or key
