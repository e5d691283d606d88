"""Recording and reading audit events (see the package docstring for the contract)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from seawall.audit.models import AuditEvent
from seawall.db import Database
from seawall.kit.clock import Clock
from seawall.kit.ids import new_id
from seawall.kit.repository import Repository

log = structlog.get_logger("seawall.audit")
events = Repository(AuditEvent, id_prefix="aud_")


@dataclass(frozen=True)
class AuditEntry:
    """What happened: `action` (`auth.login_failed`, `operator.replay_job`...), its `outcome` (`ok` or
    the answer's error type), who did it (`actor_type` operator/user/anonymous, `actor` a key name
    or user id, the key's `scope`), the `route` ("POST /admin/jobs/{job_id}/replay") and `details`."""

    action: str
    outcome: str = "ok"
    actor_type: str = "anonymous"
    actor: str | None = None
    scope: str | None = None
    route: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def _row(entry: AuditEntry, clock: Clock) -> AuditEvent:
    bound = structlog.contextvars.get_contextvars()
    return AuditEvent(
        id=new_id("aud"), created_at=clock.now(), action=entry.action, outcome=entry.outcome,
        actor_type=entry.actor_type, actor=entry.actor, scope=entry.scope, route=entry.route,
        request_id=bound.get("request_id"), client_ip=bound.get("client_ip"), details=dict(entry.details),
    )


def _log(entry: AuditEntry, row: AuditEvent) -> None:
    emit = log.info if entry.outcome == "ok" else log.warning
    emit(f"audit.{entry.action}", audit_id=row.id, outcome=entry.outcome, actor_type=entry.actor_type,
         actor=entry.actor, scope=entry.scope, route=entry.route, client_ip=row.client_ip,
         details=dict(entry.details))


async def record(session: AsyncSession, entry: AuditEntry, *, clock: Clock) -> None:
    """Log the event and add its row to the caller's transaction (kept iff that transaction commits)."""
    row = _row(entry, clock)
    _log(entry, row)
    session.add(row)
    await session.flush()


async def record_apart(database: Database, entry: AuditEntry, *, clock: Clock) -> None:
    """Log the event and write its row in a transaction of its own; never raises (a failed write is
    logged as `audit.write_failed` with the event)."""
    row = _row(entry, clock)
    _log(entry, row)
    try:
        async with database.transaction() as session:
            session.add(row)
    except Exception as exc:
        log.error("audit.write_failed", audit_id=row.id, action=entry.action, outcome=entry.outcome,
                  actor_type=entry.actor_type, actor=entry.actor, route=entry.route, client_ip=row.client_ip,
                  details=dict(entry.details), error=type(exc).__name__)


async def list_events(session: AsyncSession, *, action: str | None, limit: int, cursor: str | None
                      ) -> tuple[Sequence[AuditEvent], str | None]:
    """One page of events, newest first (keyset on created_at, id); `action` filters exactly."""
    where = [AuditEvent.action == action] if action else []
    return await events.page(session, where=where, limit=limit, cursor=cursor)
