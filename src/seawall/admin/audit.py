"""The audit log for operators: `GET /admin/audit-events` (scope `read`), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from seawall import audit
from seawall.admin.schemas import AuditEventOut, AuditEventPageOut
from seawall.web.deps import AdminDep, ReadSessionDep
from seawall.web.errors import error_responses

router = APIRouter(prefix="/admin/audit-events", tags=["admin"], dependencies=[AdminDep])


@router.get("", responses=error_responses(400, 401, 404, 422, 429, 503))
async def list_audit_events(
    session: ReadSessionDep,
    action: Annotated[str | None, Query(max_length=64, description="only this action, e.g. auth.login_failed")]
    = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> AuditEventPageOut:
    rows, next_cursor = await audit.list_events(session, action=action, limit=limit, cursor=cursor)
    return AuditEventPageOut(data=[AuditEventOut.model_validate(row) for row in rows], next_cursor=next_cursor)
